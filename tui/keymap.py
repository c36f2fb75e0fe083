"""Key remapping by binding id, from ``~/.config/vidpipe/keymap.toml``:

    [keymap]
    "grid.reprocess" = "R"
    "app.help" = "f1,question_mark"

Every Binding in the TUI has an id (see F1 for the list).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from platformdirs import user_config_dir


def keymap_path() -> Path:
    override = os.environ.get("VIDPIPE_TUI_KEYMAP")
    return Path(override) if override else Path(user_config_dir("vidpipe")) / "keymap.toml"


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """(keymap, problem): a missing file is no problem; a broken one is reported, not fatal."""
    path = path or keymap_path()
    if not path.exists():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}"
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        return {}, f"{path}: [keymap] must be a table of binding id = \"keys\""
    return {str(k): str(v) for k, v in table.items()}, None
