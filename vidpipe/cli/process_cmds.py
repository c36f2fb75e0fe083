"""vidpipe process / status."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.text import Text

from vidpipe.cli.project_cmds import print_scan
from vidpipe.cli.terminal import raw_stdout
from vidpipe.pipeline.engine import process_project
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import RunStatus, StageStatus
from vidpipe.printable import printable
from vidpipe.prompting import ledger
from vidpipe.store.session import open_project
from vidpipe.pipeline.stages.base import STAGE_TITLES, StageName
from vidpipe.ops.status import project_status


def register(subparsers) -> None:
    p = subparsers.add_parser("process", help="run the pipeline in the foreground")
    p.add_argument("project", type=Path)
    p.add_argument("--manifest", action="append", help="only this manifest (repeatable)")
    p.add_argument(
        "--all",
        action="store_true",
        help="redo every stage for every asset (default: only what is missing)",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="send reverse prompting through the Gemini Batch API: half price, "
        "answers in minutes to hours (a restart resumes the same batch); "
        "Gemini only",
    )
    p.set_defaults(handler=cmd_process)

    p = subparsers.add_parser("status", help="manifests, assets and the latest runs")
    p.add_argument("project", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_status)


class _ProgressView:
    """Rich progress bars on a terminal, one line per stage change otherwise."""

    def __init__(self):
        self.interactive = sys.stdout.isatty()
        self.bars = None
        self.tasks: dict[str, int] = {}
        self.last: dict[str, tuple] = {}
        self.manifest = ""
        if self.interactive:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            # The bars need real escape sequences (the raw stream); what they show is plain
            # text, never markup, and has no control characters (printable).
            self.bars = Progress(
                TextColumn("{task.description:<32}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}", markup=False),
                console=Console(file=raw_stdout()),
            )

    def begin_manifest(self, name: str) -> None:
        self.manifest = name
        if self.bars is not None:
            self.bars.console.print(Text.assemble("manifest ", (printable(name, True), "bold")))
        else:
            print(f"manifest {name}", flush=True)

    def update(self, row) -> None:
        title = STAGE_TITLES[StageName(row.stage)]
        note = printable(row.current_item or row.message or "", one_line=True)[:60]
        if self.bars is not None:
            key = f"{row.run_id}:{row.stage}"
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(
                    f"{printable(self.manifest, one_line=True)[:14]} · {title}",
                    total=row.total or None,
                    note=note,
                )
            self.bars.update(
                self.tasks[key],
                completed=row.done,
                total=row.total or None,
                note=note if row.status == StageStatus.RUNNING else row.status,
            )
            return
        state = (row.status, row.done if row.status != StageStatus.RUNNING else None)
        key = (row.run_id, row.stage)
        if self.last.get(key) != state and row.status != StageStatus.RUNNING:
            self.last[key] = state
            extra = f" — {row.message}" if row.message else ""
            print(f"  {title:<18} {row.status:<8} {row.done}/{row.total}{extra}", flush=True)

    def __enter__(self):
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.bars is not None:
            self.bars.stop()


def cmd_process(args) -> int:
    with open_project(args.project) as session:
        print_scan(reconcile(session.project, session.settings))
        view = _ProgressView()
        settings = session.settings.replace(gemini_batch=True) if args.batch else session.settings
        if args.batch and settings.prompt_backend != "gemini":
            print(
                f"note: --batch: the Batch API is Gemini-only; prompt_backend is "
                f"{settings.prompt_backend!r}, so {settings.openai_base_url} is asked directly"
            )
        with view:
            runs = process_project(
                session.project,
                settings,
                mode="all" if args.all else "missing",
                manifest_names=args.manifest,
                listener=view.update,
                on_run=lambda run: view.begin_manifest(run.manifest.name),
            )
        if not runs:
            print("nothing to process: the project has no images yet")
            return 0
        status = project_status(session.project, session.settings)
    skipped: dict[tuple[str, str], list[str]] = {}
    for manifest in status["manifests"]:
        for stage in (manifest.get("latest_run") or {}).get("stages", []):
            if stage["status"] == StageStatus.SKIPPED:
                skipped.setdefault((stage["title"], stage["message"]), []).append(manifest["name"])
    for (title, reason), names in skipped.items():
        print(f"note: {title} skipped for {', '.join(names)} — {reason}")
    failed = [r for r in runs if r.status != RunStatus.DONE]
    for run in failed:
        print(
            f"vidpipe: error: manifest {run.manifest.name}: run {run.status}: {run.error}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def cmd_status(args) -> int:
    with open_project(args.project) as session:
        status = project_status(session.project, session.settings)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"project {status['project']}  ({status['root']})")
    print(f"  vision model, whole project: {ledger.describe(status['usage'])}")
    for note in status.get("notes", []):
        print(f"  ! {note}")
    for manifest in status["manifests"]:
        counts = (
            ", ".join(f"{k} {v}" for k, v in manifest["assets_by_state"].items()) or "no assets"
        )
        print(
            f"\nmanifest {manifest['name']}: {manifest['assets']} asset(s) ({counts}); "
            f"{manifest['reviewed']} of {manifest['assets']} reviewed"
        )
        run = manifest.get("latest_run")
        if run:
            print(
                f"  latest run #{run['id']} {run['kind']} {run['status']}"
                + (f" — {run['error']}" if run.get("error") else "")
            )
            for stage in run["stages"]:
                msg = f" — {stage['message']}" if stage["message"] else ""
                err = f", {stage['errors']} error(s)" if stage["errors"] else ""
                print(
                    f"    {stage['title']:<18} {stage['status']:<9} "
                    f"{stage['done']}/{stage['total']}{err}{msg}"
                )
            if run["usage"]["requests"]:
                print(f"    vision model: {ledger.describe(run['usage'])}")
        for error in manifest["errors"][:20]:
            print(f"  error {error['file']}: {error['error']}")
    return 0
