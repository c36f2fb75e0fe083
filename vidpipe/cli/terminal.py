"""The command line's output streams, made safe for project text.

Every command prints file names, asset names and error messages that come from a project
folder; any of them may hold terminal escape sequences. While a command runs, stdout and stderr
are wrapped so that whatever is printed, by any command or library, shows such characters as
visible escapes (:func:`vidpipe.printable.printable`). Rich's progress bars, which must send
real escape sequences, write to the raw stream (:func:`raw_stdout`) and are given plain text.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

from vidpipe.printable import printable


class PrintableStream:
    """A text stream that writes ``printable(text)`` to the stream it wraps."""

    def __init__(self, raw: TextIO):
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(printable(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):  # flush, isatty, fileno, encoding ... of the real stream
        return getattr(self.raw, name)


def raw_stdout() -> TextIO:
    stream = sys.stdout
    return stream.raw if isinstance(stream, PrintableStream) else stream


@contextmanager
def printable_output() -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout = (
        PrintableStream(sys.stdout) if not isinstance(sys.stdout, PrintableStream) else sys.stdout
    )
    sys.stderr = (
        PrintableStream(sys.stderr) if not isinstance(sys.stderr, PrintableStream) else sys.stderr
    )
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
