"""vidpipe trust: let a project's vidpipe.toml set the settings that need trust (vidpipe.config.trust)."""

from __future__ import annotations

from pathlib import Path

from vidpipe.config.settings import CONFIG_FILENAME, load_settings
from vidpipe.errors import ProjectError
from vidpipe.config.settings_files import read_settings_file
from vidpipe.config.trust import TRUST_REQUIRED, revoke, trust, trust_store_path, trusted_projects


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "trust",
        help="allow a project's vidpipe.toml to set endpoints, paths and storage",
        description="Record, outside the project, that you trust its vidpipe.toml as it is now. "
        "Only then may it set " + ", ".join(TRUST_REQUIRED) + ". Editing the file "
        "or moving the project needs trusting again.",
    )
    p.add_argument("project", type=Path, nargs="?", help="the project folder")
    p.add_argument("--revoke", action="store_true", help="forget the trust given to PROJECT")
    p.add_argument("--list", action="store_true", help="list trusted projects")
    p.set_defaults(handler=cmd_trust)


def cmd_trust(args) -> int:
    if args.list:
        for root, record in sorted(trusted_projects().items()):
            when = record.get("trusted_at", "?") if isinstance(record, dict) else "?"
            print(f"{root}  (trusted {when})")
        return 0
    if args.project is None:
        raise ProjectError("name the project folder: vidpipe trust PROJECT")
    root = args.project.expanduser()
    if not root.is_dir():
        raise ProjectError(f"{root} is not a folder")
    if args.revoke:
        print(f"{root}: trust revoked" if revoke(root) else f"{root} was not trusted")
        return 0
    settings_file = read_settings_file(root / CONFIG_FILENAME)  # a ConfigError if unreadable
    values = settings_file.values if settings_file else {}
    trust(root, settings_file)
    load_settings(root)  # the values must also be valid: say now, not at the next run
    print(
        f"trusted {root.resolve()} with its {CONFIG_FILENAME} as it is now "
        f"(recorded in {trust_store_path()})"
    )
    for name in TRUST_REQUIRED:
        if name in values:
            print(f"  it sets {name} = {values[name]!r}")
    return 0
