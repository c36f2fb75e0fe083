"""tui.graphics: the terminal is asked what it can draw once, before Textual starts, with one
write; textual-image is imported later without asking again. The probe runs in a child process
whose terminal is a real pseudo-terminal; this test plays the terminal on the other side."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tui.graphics import DA1_QUERY, HALFCELL, SIXEL, TGP, TGP_QUERY, UNICODE, parse_replies

TIMEOUT = 30


def test_replies_are_read_like_textual_image_would():
    assert parse_replies("\x1b[?62;4;22c").kind == SIXEL
    assert parse_replies("\x1b_Gi=31;OK\x1b\\\x1b[?62;22c").kind == TGP
    assert parse_replies("\x1b_Gi=31;ENOTSUPPORTED\x1b\\\x1b[?62;22c").kind == HALFCELL
    # Sixel wins over Kitty graphics, as in textual-image (Konsole/WezTerm answer both).
    assert parse_replies("\x1b_Gi=31;OK\x1b\\\x1b[?62;4c").kind == SIXEL
    assert parse_replies("\x1b[6;20;9t\x1b[?1;2c").cell == (9, 20)
    assert parse_replies("\x1b[6;20;9t\x1b[?1;2c", cell=(8, 16)).cell == (8, 16)  # ioctl first
    assert parse_replies("").kind == HALFCELL  # a terminal that said nothing


def _set_size(fd: int, rows: int, columns: int, width: int = 0, height: int = 0) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, width, height))


def _in_terminal(code: str, answer=None, pixels=(0, 0)) -> tuple[dict, str]:
    """Run ``code`` with a pseudo-terminal as stdin/stdout; ``answer(queries) -> str|None`` is the
    terminal's reply once it has seen DA1. Returns (the JSON the code printed on stderr, every
    byte the code wrote to the terminal)."""
    master, slave = pty.openpty()
    _set_size(slave, 40, 120, *pixels)
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=subprocess.PIPE, text=True
    )
    os.close(slave)
    written, answered = "", False
    deadline = time.monotonic() + TIMEOUT
    try:
        while child.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    written += os.read(master, 4096).decode("latin-1")
                except OSError:  # the child closed its side
                    break
            if not answered and DA1_QUERY in written and answer is not None:
                reply = answer(written)
                if reply:
                    os.write(master, reply.encode("latin-1"))
                answered = True
        stderr = child.communicate(timeout=TIMEOUT)[1]
    finally:
        os.close(master)
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, stderr
    return json.loads(stderr.strip().splitlines()[-1]), written


PROBE = """
import json, sys
from tui.graphics import probe
result = probe(deadline_s={deadline})
print(json.dumps({{"kind": result.kind, "cell": result.cell}}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "reply, kind, cell",
    [
        ("\x1b[?62;4;22c", SIXEL, None),
        ("\x1b_Gi=31;OK\x1b\\\x1b[?62;22c", TGP, None),
        ("\x1b[6;18;8t\x1b[?1;2c", HALFCELL, [8, 18]),
    ],
)
def test_probe_in_a_pseudo_terminal(reply, kind, cell):
    result, written = _in_terminal(PROBE.format(deadline=TIMEOUT), lambda _: reply)
    assert result == {"kind": kind, "cell": cell}
    # One write: Kitty query, cell size query, DA1 last (its answer ends the wait).
    assert written.index(TGP_QUERY) < written.index("\x1b[16t") < written.index(DA1_QUERY)


def test_probe_uses_the_pixel_size_the_kernel_knows_and_survives_silence():
    # 1200x800 pixels over 120x40 cells: 10x20 cells, no cell-size query sent; the terminal
    # never answers: the probe gives up at its deadline and draws half blocks.
    result, written = _in_terminal(PROBE.format(deadline=0.3), None, pixels=(1200, 800))
    assert result == {"kind": HALFCELL, "cell": [10, 20]}
    assert "\x1b[16t" not in written


def test_probe_outside_a_terminal_asks_nothing():
    code = PROBE.format(deadline=TIMEOUT)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    assert json.loads(out.stderr.strip().splitlines()[-1]) == {"kind": UNICODE, "cell": None}


IMPORT_LATER = """
import json, sys
from tui import graphics
graphics.set_capabilities(graphics.Graphics(graphics.{kind}, (7, 15)))
cls = graphics.image_widget_class()
from textual_image._terminal import get_cell_size
print(json.dumps({{"class": cls.__name__, "module": cls.__module__,
                   "cell": list(get_cell_size())}}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "kind, module",
    [
        ("SIXEL", "tui.widgets.protocol_images"),
        ("TGP", "tui.widgets.protocol_images"),
        ("HALFCELL", "textual_image.widget"),
    ],
)
def test_textual_image_is_imported_later_without_asking_the_terminal(kind, module):
    # On a terminal, importing textual-image would send its queries: once Textual owns stdin
    # their answers would arrive as key presses. Nothing may be written here.
    result, written = _in_terminal(IMPORT_LATER.format(kind=kind))
    assert written == ""
    assert result["module"] == module and result["cell"] == [7, 15]
    expected = {"SIXEL": "KeptSixelImage", "TGP": "KeptTGPImage", "HALFCELL": "HalfcellImage"}[kind]
    assert result["class"] == expected


def test_first_paint_imports_neither_textual_image_nor_numpy(tmp_path):
    from support.tui_support import make_project

    root = make_project(tmp_path / "project", images=1)
    code = """
import json, sys
from tui.app import VidpipeApp

class FirstPaint(VidpipeApp):
    def on_mount(self):
        self.call_after_refresh(self.painted)

    def painted(self):
        self.seen = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "textual_image"))
        self.exit()

app = FirstPaint(sys.argv[1], watch_folder=False, keymap={})
app.run(headless=True)
print(json.dumps(app.seen))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


SHOW_AGAIN = """
import asyncio, sys
from PIL import Image
from tui import graphics
graphics.set_capabilities(graphics.Graphics(graphics.{kind}, (10, 20)))
picture_class = graphics.image_widget_class()
import textual_image.widget.sixel as sixel
encoded = []
encode = sixel.image_to_sixels
sixel.image_to_sixels = lambda *args, **kwargs: (encoded.append(1), encode(*args, **kwargs))[1]
from textual.app import App

first = Image.new("RGB", (64, 48), (200, 30, 30))
second = Image.new("RGB", (64, 48), (30, 30, 200))


class Show(App):
    CSS = "#pic {{ width: 12; height: 6; }}"

    def compose(self):
        yield picture_class(first, id="pic")


async def main():
    async with Show().run_test(size=(40, 12)) as pilot:
        picture = pilot.app.query_one("#pic")
        await pilot.pause()
        for image in (second, first, second, first):
            picture.image = image
            await pilot.pause()
            await pilot.pause()
        picture.refresh()
        await pilot.pause()

asyncio.run(main())
print("encoded", len(encoded), file=sys.stderr)
"""


def _show_again(kind: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SHOW_AGAIN.format(kind=kind)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_kitty_pictures_are_transmitted_once_and_placed_again_by_id():
    # textual-image writes Kitty graphics commands straight to stdout: here, a pipe.
    out = _show_again("TGP").stdout
    assert out.count("a=p") == 2  # two pictures, each transmitted and placed once
    assert "a=d" not in out  # none deleted from the terminal and sent again


def test_sixel_pictures_are_encoded_once_per_size():
    assert "encoded 2" in _show_again("SIXEL").stderr
