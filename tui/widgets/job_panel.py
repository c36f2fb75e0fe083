"""The dashboard's live part: one progress bar per stage of the job in focus, the queue, the
daemon's heartbeat. Rendered as Rich tables into Statics: one cheap update per database change."""

from __future__ import annotations

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.snapshot import RunInfo, Snapshot, StageInfo
from vidpipe.prompting import ledger

STATUS_STYLE = {
    "running": "bold cyan", "done": "green", "skipped": "dim", "failed": "bold red",
    "cancelled": "yellow", "pending": "dim", "queued": "dim", "interrupted": "yellow",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def stage_line(stage: StageInfo) -> list:
    total = stage.total or (1 if stage.status in ("done", "skipped") else 0)
    done = stage.done if stage.total else (total if stage.status == "done" else 0)
    bar = ProgressBar(total=max(total, 1), completed=min(done, max(total, 1)), width=24,
                      pulse=stage.status == "running" and not stage.total)
    counts = f"{stage.done}/{stage.total}" if stage.total else ""
    rate = f"{stage.rate:.1f}/s" if stage.rate else ""
    eta = f"ETA {duration(stage.eta_s)}" if stage.eta_s is not None else ""
    errors = Text(f"{stage.errors} err", style="bold red") if stage.errors else Text("")
    detail = stage.current_item if stage.status == "running" and stage.current_item \
        else (stage.message or "")
    return [stage.title, bar, Text(stage.status, style=STATUS_STYLE.get(stage.status, "")),
            counts, rate, eta, errors, Text(detail, overflow="ellipsis", no_wrap=True)]


def run_header(run: RunInfo) -> Text:
    text = Text.assemble((run.label, "bold"), "  ",
                         (run.status, STATUS_STYLE.get(run.status, "")),
                         f"  mode {run.mode}")
    if run.cancel_requested and run.status == "running":
        text.append("  cancelling…", style="yellow")
    if run.error:
        text.append(f"  {run.error}", style="red")
    return text


def render_focus(run: RunInfo | None) -> Group | Text:
    if run is None:
        return Text("No job yet. Press p to process this manifest.", style="dim")
    table = Table.grid(padding=(0, 1), expand=True)
    for name, ratio in (("stage", None), ("bar", None), ("status", None), ("count", None),
                        ("rate", None), ("eta", None), ("errors", None), ("item", 1)):
        table.add_column(name, ratio=ratio, no_wrap=True)
    for stage in run.stages:
        table.add_row(*stage_line(stage))
    return Group(run_header(run), table)


def render_usage(snapshot: Snapshot) -> Text:
    """Gemini tokens and dollars: the job in focus, then the whole project."""
    run = snapshot.focus.usage if snapshot.focus is not None else None
    text = Text("Gemini ", style="bold")
    text.append(f"job: {ledger.describe(run)}" if run else "job: —")
    if snapshot.project_usage:
        text.append(f"   project: {ledger.describe(snapshot.project_usage)}", style="dim")
    return text


def render_queue(snapshot: Snapshot) -> Text:
    text = Text()
    if snapshot.running:
        text.append("running: ", style="bold")
        text.append(", ".join(r.label for r in snapshot.running))
        text.append("   ")
    text.append(f"queued: {len(snapshot.queued)}", style="bold")
    if snapshot.queued:
        text.append("  " + ", ".join(r.label for r in snapshot.queued[:4]))
        if len(snapshot.queued) > 4:
            text.append(f" … +{len(snapshot.queued) - 4}")
    return text


class JobPanel(Static):
    """Stage bars of the job in focus."""

    def show(self, snapshot: Snapshot) -> None:
        self.update(Group(render_focus(snapshot.focus), render_usage(snapshot),
                          render_queue(snapshot)))


def describe_daemon(status) -> Text:
    if status is None:
        return Text("daemon: checking…", style="dim")
    if not status.running:
        return Text("● no daemon runs for this project — press D to start one", style="bold yellow")
    age = status.heartbeat_age_s
    if status.responding:
        style, state = "green", f"heartbeat {age:.1f}s ago"
    elif age is None:
        style, state = "yellow", "starting (no heartbeat yet)"
    else:
        style, state = "bold red", f"NOT RESPONDING (heartbeat {duration(age)} ago)"
    work = f" · run #{status.current_run}" if status.current_run else " · idle"
    watcher = f" · watcher {status.watcher}" if status.watcher else ""
    return Text(f"● daemon pid {status.pid} · {state}{work}{watcher}", style=style)


class DaemonBar(Static):
    def show(self, status) -> None:
        self.update(describe_daemon(status))
