"""How the preview spends bytes: the trade-off between picture quality and what crosses the link.

``low`` draws half blocks within a small byte budget (a few KB per image): the default over SSH,
where a cursor move should not cost a second on a slow link. ``high`` uses the terminal's best
protocol (Kitty graphics, Sixel, else full-colour half blocks at the pane's size): the default
on a local terminal. ``off`` shows the asset's text only. Chosen by ``--preview`` or
``VIDPIPE_TUI_PREVIEW``, changed in the app with ``I``.
"""

from __future__ import annotations

import os
from typing import Mapping

from tui.halfblock import Budget

LOW, HIGH, OFF = "low", "high", "off"
QUALITIES = (LOW, HIGH, OFF)
ENV_NAME = "VIDPIPE_TUI_PREVIEW"

#: Over SSH: what a 256 kbit/s link carries in ~0.2 s.
LOW_BUDGET = Budget(max_cells=(36, 12), max_bytes=6000, colors=32)
HIGH_ROWS = 16


def over_ssh(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get("SSH_CONNECTION") or environ.get("SSH_TTY"))


def default_quality(choice: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """``choice`` (``auto`` or None: the environment variable, else low over SSH, high locally)."""
    for wanted in (choice, environ.get(ENV_NAME)):
        if wanted and wanted != "auto":
            if wanted not in QUALITIES:
                raise ValueError(
                    f"preview quality {wanted!r}: choose one of auto, " + ", ".join(QUALITIES)
                )
            return wanted
    return LOW if over_ssh(environ) else HIGH


def next_quality(quality: str) -> str:
    return QUALITIES[(QUALITIES.index(quality) + 1) % len(QUALITIES)]


def budget(quality: str, pane_columns: int) -> Budget:
    """The half-block budget for a pane this wide."""
    if quality == LOW:
        columns, rows = LOW_BUDGET.max_cells
        return Budget((min(columns, pane_columns), rows), LOW_BUDGET.max_bytes, LOW_BUDGET.colors)
    return Budget((pane_columns, HIGH_ROWS))
