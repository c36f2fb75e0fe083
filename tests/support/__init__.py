"""What the tests share and the product never ships: a fake Gemini server (and its Batch API),
throwaway PostgreSQL and Redis servers, a pixel detector standing in for YOLO, and the helpers
several test modules use. Importable as ``support`` because tests/ is on the path: pytest's
``pythonpath`` setting in-process, PYTHONPATH (set by tests/conftest.py) in the processes the
tests start, such as daemons that load ``support.pixel_detector``."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
