"""Key remapping by binding id, from ``~/.config/vidpipe/keymap.toml``:

    [keymap]
    "grid.reprocess" = "R"
    "app.help" = "f1,question_mark"

Every Binding in the TUI has an id (see F1 for the list).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from platformdirs import user_config_dir

from vidpipe.errors import VidpipeError
from vidpipe.printable import printable
from vidpipe.store.safe_io import read_limited

MAX_KEYMAP_BYTES = 1_000_000
#: One key as Textual names it: "R", "ctrl+r", "f5", "question_mark", "ctrl+shift+left", "é".
KEY_NAME = re.compile(r"[^\W][\w+-]*")


def keymap_path() -> Path:
    override = os.environ.get("VIDPIPE_TUI_KEYMAP")
    return Path(override) if override else Path(user_config_dir("vidpipe")) / "keymap.toml"


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """(keymap, problem): a missing file is no problem; a broken file or entry is reported, not
    fatal (the TUI starts with the entries that are usable, or the default keys)."""
    path = path or keymap_path()
    where = printable(path)
    try:
        # The person's own file (often a symlink into their dotfiles): followed.
        raw = read_limited(path, MAX_KEYMAP_BYTES, follow_symlinks=True)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{where}: cannot be read ({exc.strerror or exc})"
    except VidpipeError as exc:  # a FIFO, a folder, too large (safe_io.UnsafePath)
        return {}, printable(exc)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return {}, f"{where}: not UTF-8 text (byte {exc.start})"
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        return {}, f"{where}: not valid TOML ({printable(exc, one_line=True)[:120]})"
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        return {}, f'{where}: [keymap] must be a table of binding id = "keys"'
    keymap, bad = {}, []
    for binding_id, keys in table.items():
        if isinstance(keys, str) and all(KEY_NAME.fullmatch(k.strip()) for k in keys.split(",")):
            keymap[binding_id] = keys
        else:
            bad.append(printable(binding_id, one_line=True))
    if bad:
        return keymap, (
            f'{where}: ignored {", ".join(bad)}: keys must be text like "R", '
            '"ctrl+r" or "f5,question_mark" (F1 lists the binding ids)'
        )
    return keymap, None
