"""Entry point: ``vidpipe-tui [PROJECT]`` (default: the current folder)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vidpipe.errors import VidpipeError, describe_os_error


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="vidpipe-tui",
        description="Review and edit a vidpipe project: live job progress, the asset grid, "
        "prompts, reprocessing. F1 inside lists every key.",
    )
    parser.add_argument("project", nargs="?", default=".", help="project folder (default: .)")
    parser.add_argument(
        "--no-watch",
        action="store_true",
        help="do not watch the folder for new files (the daemon still does)",
    )
    parser.add_argument(
        "--preview",
        choices=["auto", "low", "high", "off"],
        default=None,
        help="picture quality against bytes on the link: low (a few KB a "
        "picture, the default over SSH), high (the terminal's best, the "
        "default locally), off; also VIDPIPE_TUI_PREVIEW; I in the app",
    )
    return parser.parse_args(argv)


def _log_to_project(root: Path) -> None:
    from vidpipe.printable import PrintableFormatter
    from vidpipe.store.project import find_project
    from vidpipe.store.safe_io import LogFileHandler

    try:
        project = find_project(root)
        project.ensure_dirs()
        handler = LogFileHandler(
            project.logs_dir / "tui.log", backup_count=1, within=project.state_dir
        )
    except (OSError, VidpipeError) as exc:
        print(f"vidpipe-tui: not logging to a file: {exc}", file=sys.stderr)
        return
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.project)
    from tui import graphics

    # Ask the terminal what images it can draw while the imports below run; the answer must be
    # in before Textual takes the terminal over (see tui.graphics).
    graphics.start_probe()
    try:
        from tui.app import VidpipeApp

        app = VidpipeApp(root, watch_folder=not args.no_watch, preview_quality=args.preview)
    except (VidpipeError, OSError) as exc:
        graphics.finish_probe()
        from vidpipe.printable import printable

        text = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        print(f"vidpipe-tui: {printable(text)}", file=sys.stderr)
        return 2
    _log_to_project(app.project.root)
    graphics.finish_probe()
    app.run()
    if app.failure:
        from vidpipe.printable import printable

        print(f"vidpipe-tui: {printable(app.failure)}", file=sys.stderr)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
