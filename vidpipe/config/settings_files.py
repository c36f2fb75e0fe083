"""Reading a settings file (vidpipe.toml, the user's config.toml) without ever raising anything
but a ConfigError that names the file and what is wrong with it.

A project's vidpipe.toml comes from whoever made the folder: it may be a directory, a FIFO (an
open() that never returns), a link to /dev/zero, not UTF-8, not TOML, or unreadable.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_config_dir

from vidpipe.errors import ConfigError

#: Far larger than any real settings file; stops a link to a huge file from filling memory.
MAX_SETTINGS_BYTES = 1_000_000
USER_CONFIG_FILENAME = "config.toml"


def user_config_dir_path() -> Path:
    """The person's own vidpipe folder (``~/.config/vidpipe`` on Linux; XDG_CONFIG_HOME moves it)."""
    return Path(user_config_dir("vidpipe"))


def user_config_path() -> Path:
    return user_config_dir_path() / USER_CONFIG_FILENAME


@dataclass(frozen=True)
class SettingsFile:
    path: Path
    values: dict
    raw: bytes  # exactly the bytes parsed: what a trust record hashes


def read_settings_file(path: Path) -> SettingsFile | None:
    """The parsed file, or None when there is no file at ``path``."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise ConfigError(f"{path} is a link to a file that does not exist") from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path} is a folder; it must be a settings file (TOML text)")
        raise ConfigError(f"{path} is not a regular file; it must be a settings file (TOML text)")
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(MAX_SETTINGS_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SETTINGS_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_SETTINGS_BYTES} bytes; it cannot be a settings file"
        )
    try:
        text = raw.decode("utf-8-sig")  # tolerate the byte-order mark some editors write
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(
            f"{path} nests arrays or tables too deeply to be a settings file"
        ) from None
    return SettingsFile(path, values, raw)
