"""Walking a project's folders without recursion, to a depth limit.

Python's ``os.walk`` recurses (3.11): a folder 1 100 levels deep raised RecursionError and
stopped the whole scan. This walk keeps its own stack, and reports a folder past
:data:`MAX_FOLDER_DEPTH` instead of descending into it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

#: Deeper than any real project's folders (a manifest is one level; people nest a few more).
MAX_FOLDER_DEPTH = 64


def walk(
    top: str,
    on_error: Callable[[OSError], None],
    on_too_deep: Callable[[str], None],
    max_depth: int = MAX_FOLDER_DEPTH,
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top, followlinks=False)`` top-down, as a loop: the caller may prune
    ``dirnames`` in place. Folders below ``max_depth`` levels are passed to ``on_too_deep``
    and not listed."""
    stack = [(top, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            on_error(exc)
            continue
        dirnames, filenames = [], []
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            # A symlink to a folder is listed as a folder (as os.walk does), never entered.
            if is_folder or (entry.is_symlink() and os.path.isdir(entry.path)):
                dirnames.append(entry.name)
            else:
                filenames.append(entry.name)
        yield folder, dirnames, filenames
        below = []
        for name in dirnames:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            if depth + 1 > max_depth:
                on_too_deep(path)
            else:
                below.append((path, depth + 1))
        stack.extend(reversed(below))  # the first subfolder is walked first, as os.walk does
