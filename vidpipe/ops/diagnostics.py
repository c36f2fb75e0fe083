"""What one `vidpipe doctor` check returns. Its own module so that the checks (ops/doctor.py,
ops/vision_checks.py, ops/server_checks.py) and the doctor that runs them share it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from vidpipe.config.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # ok | warn | fail
    detail: str
    remedy: str | None = None


CheckFn = Callable[["Settings", Path | None], Check | None]  # None: nothing to say
