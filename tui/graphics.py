"""Which image protocol the terminal speaks, asked once before Textual takes the terminal, cheaply.

textual-image answers the same question when ``textual_image.renderable`` is imported: it sends a
Sixel query (DA1), then a Kitty graphics (TGP) query and a cell-size query, each waiting up to
0.1 s for an answer a terminal that lacks the feature never sends (tmux: ~0.1 s lost), and it
imports numpy (~0.1 s). Both used to sit on the path to the first screen.

Here the three questions go out in one write, followed by DA1, which every terminal answers and
answers in order: once the DA1 reply is in, every answer that will ever come has come, so no
timeout is spent on a missing feature. The probe runs in a thread while the interpreter imports
Textual and the app, and is joined before Textual reads stdin. textual-image itself is imported
only when the first image is shown (in a worker thread), with its own queries short-circuited and
its cell size preset from the probe: once Textual owns stdin, a query's answer would be read by
Textual as keys.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass

SIXEL, TGP, HALFCELL, UNICODE = "sixel", "tgp", "halfcell", "unicode"

#: Kitty graphics protocol query (a=q: answer, do not store), as textual-image sends it.
TGP_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
CELL_SIZE_QUERY = "\x1b[16t"  # answer: CSI 6 ; height ; width t
DA1_QUERY = "\x1b[c"  # answer: CSI ? params c; param 4 means Sixel
PROBE_DEADLINE_S = 0.5  # only a terminal that ignores DA1 (none known) waits this long

_DA1_REPLY = re.compile(r"\x1b\[\?([\d;]*)c")
_CELL_REPLY = re.compile(r"\x1b\[6;(\d+);(\d+)t")
_TGP_OK = re.compile(r"\x1b_Gi=31;OK\x1b\\")


@dataclass(frozen=True)
class Graphics:
    kind: str  # SIXEL, TGP, HALFCELL (colored half blocks) or UNICODE (not a terminal)
    cell: tuple[int, int] | None = None  # cell width, height in pixels, when known


def parse_replies(replies: str, cell: tuple[int, int] | None = None) -> Graphics:
    """The capabilities the terminal's answers to the probe describe (order as textual-image:
    Sixel, then Kitty graphics, else half blocks)."""
    if cell is None and (match := _CELL_REPLY.search(replies)):
        height, width = int(match.group(1)), int(match.group(2))
        cell = (width, height) if width and height else None
    da1 = _DA1_REPLY.search(replies)
    if da1 and "4" in da1.group(1).split(";"):
        return Graphics(SIXEL, cell)
    if _TGP_OK.search(replies):
        return Graphics(TGP, cell)
    return Graphics(HALFCELL, cell)


def _is_terminal() -> bool:
    try:
        return bool(
            sys.__stdin__ and sys.__stdout__ and sys.__stdin__.isatty() and sys.__stdout__.isatty()
        )
    except (ValueError, OSError):  # closed
        return False


def _ioctl_cell_size(fd: int) -> tuple[int, int] | None:
    import fcntl
    import struct
    import termios

    try:
        rows, columns, width, height = struct.unpack(
            "HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
        )
    except OSError:
        return None
    if rows and columns and width and height:
        return width // columns, height // rows
    return None


def probe(deadline_s: float = PROBE_DEADLINE_S) -> Graphics:
    """Ask the terminal (stdin/stdout) what it can draw. Must run before Textual starts."""
    if not _is_terminal() or os.name != "posix":
        return Graphics(UNICODE if not _is_terminal() else HALFCELL)
    import select
    import termios
    import time
    import tty

    fd_in, fd_out = sys.__stdin__.fileno(), sys.__stdout__.fileno()
    cell = _ioctl_cell_size(fd_out)
    saved = termios.tcgetattr(fd_in)
    replies = ""
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)  # no echo, no line buffering
        query = TGP_QUERY + ("" if cell else CELL_SIZE_QUERY) + DA1_QUERY
        os.write(fd_out, query.encode())
        end = time.monotonic() + deadline_s
        while not _DA1_REPLY.search(replies):
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            replies += os.read(fd_in, 1024).decode("latin-1")
    except OSError:
        pass
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    return parse_replies(replies, cell)


_result: Graphics | None = None
_thread: threading.Thread | None = None


def start_probe() -> None:
    """Probe in the background (the caller imports meanwhile); ``finish_probe`` joins it."""
    global _thread

    def run() -> None:
        global _result
        try:
            _result = probe()
        except Exception:  # never let a terminal oddity stop the app: draw half blocks
            _result = Graphics(HALFCELL)

    _thread = threading.Thread(target=run, name="vidpipe-tui-probe", daemon=True)
    _thread.start()


def finish_probe() -> Graphics:
    """Wait for the probe; call before Textual takes the terminal."""
    if _thread is not None:
        _thread.join()
    return capabilities()


def set_capabilities(graphics: Graphics | None) -> None:
    global _result
    _result = graphics


def capabilities() -> Graphics:
    """The probe's answer; without a probe (an app started by other code) half blocks on a
    terminal, plain Unicode elsewhere: asking is no longer possible once Textual runs."""
    if _result is not None:
        return _result
    return Graphics(HALFCELL if _is_terminal() else UNICODE)


_lock = threading.Lock()
_widget_class = None


def image_widget_class():
    """The textual-image widget class for this terminal. Imports textual-image (numpy) on first
    call, without letting it query the terminal; safe from any thread."""
    global _widget_class
    with _lock:
        if _widget_class is None:
            _widget_class = _import_widget_class(capabilities())
        return _widget_class


def _import_widget_class(graphics: Graphics):
    from textual_image import _terminal

    _terminal.get_cell_size._result = _terminal.CellSize(*(graphics.cell or (10, 20)))

    def no_query(*args, **kwargs):
        raise _terminal.TerminalError("vidpipe-tui asked the terminal before Textual started")

    original = _terminal.capture_terminal_response
    _terminal.capture_terminal_response = no_query
    try:
        import textual_image.widget as widget
    finally:
        _terminal.capture_terminal_response = original
    from tui.widgets.protocol_images import KeptSixelImage, KeptTGPImage

    return {
        SIXEL: KeptSixelImage,
        TGP: KeptTGPImage,
        HALFCELL: widget.HalfcellImage,
        UNICODE: widget.UnicodeImage,
    }[graphics.kind]
