"""Reading the prompt template file, once, the way it was checked.

Settings check where ``prompt_template`` leads when they load (a file outside the project needs
the person's trust). The file is read then, and its text kept with the settings
(:meth:`vidpipe.config.settings.Settings.keeping_template`): a name read again at stage time
could have been swapped meanwhile for a link to a private file, which would go to the model as
the prompt. A template named inside the project is read only where the open file really lies
inside it (:func:`vidpipe.store.safe_io.open_inside`).
"""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.errors import ConfigError
from vidpipe.store.safe_io import UnsafePath, open_inside, open_regular

#: Far more than any real instruction text; the template is sent with every image.
MAX_TEMPLATE_BYTES = 64_000


def template_path(project_root: Path, spec: str) -> Path:
    path = Path(spec).expanduser()
    return path if path.is_absolute() else Path(project_root) / path


def names_inside(project_root: Path, path: Path) -> bool:
    """Whether ``path``, as written (no link followed), lies in the project folder."""
    root = os.path.abspath(project_root).rstrip(os.sep) + os.sep
    return os.path.abspath(path).startswith(root)


def read_template_text(project_root: Path, spec: str) -> str:
    """The text of the template file ``spec`` (relative to the project folder); ConfigError
    saying what is wrong with it otherwise."""
    path = template_path(project_root, spec)
    try:
        handle = (
            open_inside(path, project_root)
            if names_inside(project_root, path)
            else open_regular(path)
        )
    except UnsafePath as exc:  # not a regular file (a FIFO would block), or leads outside
        raise ConfigError(f"prompt_template: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"prompt_template: cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        # It goes out with every request: a huge one would multiply the bill.
        data = handle.read(MAX_TEMPLATE_BYTES + 1)
    if len(data) > MAX_TEMPLATE_BYTES:
        raise ConfigError(f"prompt_template: {path} is larger than {MAX_TEMPLATE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"prompt_template: {path} is not UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"prompt_template: {path} is empty")
    return text
