"""One person's vidpipe-tui session in its own process (its own database connection, as on
another machine), driven through Textual's pilot by commands read one JSON line at a time.

    python tui_session_driver.py PROJECT
    stdin:  {"do": "open_editor"}                 press e on the first asset
            {"do": "type_and_save", "text": T}    type T into the focused field, press ctrl+s
            {"do": "see", "text": T}              wait until the grid shows T as that prompt
            {"do": "quit"}
    stdout: one JSON line per command: {"ok": true, ...} or {"ok": false, "error": ...}

Textual owns the process's standard streams while the app runs, so commands and answers go
through duplicates of the original descriptors taken before it starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support

from support.tui_support import wait_for

WAIT_S = 60.0


def keys_for(text: str) -> list[str]:
    return ["space" if ch == " " else ch for ch in text]


class Session:
    def __init__(self, pilot):
        self.pilot = pilot
        self.app = pilot.app
        self.asset_key: str | None = None

    async def open_editor(self, _: dict) -> dict:
        screen = self.app.main_screen
        await wait_for(self.pilot, lambda: screen.table.row_count > 0, WAIT_S, "the grid")
        self.asset_key = screen.table.current_key
        await self.pilot.press("e")
        await wait_for(
            self.pilot,
            lambda: type(self.app.screen).__name__ == "AssetEditorScreen",
            WAIT_S,
            "the editor",
        )
        return {
            "asset_id": self.app.screen.data.asset_id,
            "database": type(self.app.session.database).__name__,
        }

    async def type_and_save(self, command: dict) -> dict:
        from vidpipe.store.models import Asset

        editor = self.app.screen
        await self.pilot.press(*keys_for(command["text"]), "ctrl+s")
        # Saved, or refused: someone saved the field after this editor opened it.
        await wait_for(
            self.pilot,
            lambda: any(n.title in ("Saved", "Conflict") for n in self.app._notifications),
            WAIT_S,
            "the save",
        )
        stored = Asset.get_by_id(editor.data.asset_id).reverse_prompt
        return {"stored": stored, "notes": [n.message for n in self.app._notifications]}

    async def see(self, command: dict) -> dict:
        screen = self.app.main_screen
        await wait_for(
            self.pilot,
            lambda: screen.rows[self.asset_key].reverse_prompt == command["text"],
            WAIT_S,
            f"the grid showing {command['text']!r}",
        )
        return {"screen": type(self.app.screen).__name__}


async def drive(project: Path, commands, answers) -> None:
    from tui.app import VidpipeApp

    app = VidpipeApp(project, keymap={}, watch_folder=False)
    loop = asyncio.get_running_loop()
    async with app.run_test(size=(160, 48)) as pilot:
        session = Session(pilot)
        while True:
            line = await loop.run_in_executor(None, commands.readline)
            if not line:
                return
            command = json.loads(line)
            if command["do"] == "quit":
                answers.write(json.dumps({"ok": True}) + "\n")
                return
            try:
                answer = {"ok": True, **await getattr(session, command["do"])(command)}
            except Exception as exc:  # the test reads the reason, the session goes on
                answer = {"ok": False, "error": f"{exc}\n{traceback.format_exc()}"}
            answers.write(json.dumps(answer) + "\n")


def main() -> int:
    commands = os.fdopen(os.dup(0), "r", buffering=1)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    answers.write(json.dumps({"ok": True, "ready": True}) + "\n")
    asyncio.run(drive(Path(sys.argv[1]), commands, answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
