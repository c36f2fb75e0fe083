"""The TUI starts fast over SSH because it never loads the ML stack: import it in a fresh
interpreter and look at sys.modules (import-linter checks the static graph; this checks what
actually gets imported, including by the modules the TUI loads lazily on common paths)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "torch",
    "tensorflow",
    "ultralytics",
    "deepface",
    "google.genai",
    "keras",
    "tf_keras",
    "cv2",
    "mtcnn",
    "dlib",
    "huey.contrib",
    "openai",
]


def imported_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted({h.split('.')[0] for h in HEAVY})!r} or m in {HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_tui_app_imports_no_heavy_module():
    modules = imported_after("import tui.main, tui.app, tui.screens.main, tui.screens.editor")
    assert [
        m for m in modules if m.split(".")[0] in {h.split(".")[0] for h in HEAVY} and m != "google"
    ] == []


def test_tui_job_and_face_paths_import_no_heavy_module():
    # What the keys r / p / c / D and the face merge/split load on first use.
    modules = imported_after(
        "import tui.job_requests, daemon.client, vidpipe.pipeline.face_review, "
        "vidpipe.review.export, vidpipe.store.edits, vidpipe.ops.daemon_state"
    )
    assert [m for m in modules if m != "google"] == []
