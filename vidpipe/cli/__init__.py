"""The ``vidpipe`` command line. Each command group lives in its own module with a
``register(subparsers)`` function; ``COMMAND_MODULES`` lists them in help order."""

from __future__ import annotations

import argparse
import importlib
import logging
import sqlite3
import sys

from peewee import DatabaseError as PeeweeDatabaseError

from vidpipe.store.database import describe_database_error
from vidpipe.errors import VidpipeError, describe_os_error

COMMAND_MODULES = [
    "vidpipe.cli.project_cmds",  # init, add, scan
    "vidpipe.cli.process_cmds",  # process, status
    "vidpipe.cli.export_cmds",  # export
    "vidpipe.cli.character_cmds",  # characters
    "vidpipe.cli.doctor_cmds",  # doctor
    "vidpipe.cli.model_cmds",  # models pull|import|list
    "vidpipe.cli.reprocess_cmds",  # reprocess
    "vidpipe.cli.edit_cmds",  # edit
    "vidpipe.cli.retag_cmds",  # retag
    "vidpipe.cli.daemon_cmds",  # daemon status|stop
    "vidpipe.cli.trust_cmds",  # trust
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidpipe",
        description="Turn a folder of reference images into a reviewed manifest.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from vidpipe.cli.terminal import printable_output

    with printable_output():  # names from a project never reach the terminal as escapes
        return _run(argv)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except VidpipeError as exc:
        print(f"vidpipe: error: {exc}", file=sys.stderr)
        return 2
    except (PeeweeDatabaseError, sqlite3.DatabaseError) as exc:
        if args.verbose:
            raise
        print(f"vidpipe: error: {describe_database_error(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.verbose:
            raise
        print(f"vidpipe: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "vidpipe: interrupted; finished work is kept, run the command again to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
