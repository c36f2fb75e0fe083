"""The dashboard's live part: one progress line per stage of the job in focus, the queue, the
daemon's state. Each line is its own widget, repainted only when what it shows changed: a
progress update rewrites one line of the terminal, an unchanged heartbeat rewrites nothing."""

from __future__ import annotations

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from vidpipe.ops.daemon_registry import TeamStatus
from vidpipe.prompting import ledger
from tui.plain import plain, safe
from tui.snapshot import RunInfo, Snapshot, StageInfo
from tui.widgets.fit import Fitted
from tui.widgets.quiet import QuietStatic, text_key

STATUS_STYLE = {
    "running": "bold cyan",
    "done": "green",
    "skipped": "dim",
    "failed": "bold red",
    "cancelled": "yellow",
    "pending": "dim",
    "queued": "dim",
    "interrupted": "yellow",
}
#: Fixed widths, so that the stage lines, each drawn on its own, line up as one table.
STAGE_COLUMNS = (
    ("stage", 17),
    ("bar", 24),
    ("status", 11),
    ("count", 9),
    ("rate", 8),
    ("eta", 10),
    ("errors", 8),
    ("item", None),
)
WIDTHS: dict[str, int] = {name: width for name, width in STAGE_COLUMNS if width}
BAR_MIN = 5


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def coarse_age(seconds: float) -> str:
    """An age that changes rarely: tens of seconds, then minutes, then hours."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{max(seconds // 10 * 10, 10)}s+"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def stage_cells(stage: StageInfo) -> tuple:
    """What a stage line shows, as plain values (also the key that decides a repaint)."""
    total = stage.total or (1 if stage.status in ("done", "skipped") else 0)
    done = stage.done if stage.total else (total if stage.status == "done" else 0)
    bar = (max(total, 1), min(done, max(total, 1)), stage.status == "running" and not stage.total)
    counts = f"{stage.done}/{stage.total}" if stage.total else ""
    rate = f"{stage.rate:.1f}/s" if stage.rate else ""
    eta = f"ETA {duration(stage.eta_s)}" if stage.eta_s is not None else ""
    errors = f"{stage.errors} err" if stage.errors else ""
    detail = (
        stage.current_item
        if stage.status == "running" and stage.current_item
        else (stage.message or "")
    )
    return safe(stage.title), bar, safe(stage.status), counts, rate, eta, errors, safe(detail)


def stage_columns(width: int) -> list[tuple[str, int | None]]:
    """The columns a stage line shows in ``width`` cells: stage, status and count always (whole,
    never cut), then as room allows the errors, the ETA, the rate, a longer bar and the item.
    Depends on the width only, so every stage line of the panel lines up."""
    shown = ["stage", "bar", "status", "count"]
    room = width - sum(WIDTHS[name] + 1 for name in shown if name != "bar")
    for name, bar_needs in (("errors", BAR_MIN), ("eta", 8), ("rate", 12)):
        if room - (WIDTHS[name] + 1) >= bar_needs:
            shown.append(name)
            room -= WIDTHS[name] + 1
    bar = max(BAR_MIN, min(WIDTHS["bar"], room))
    if room - bar >= 12:
        shown.append("item")
    return [
        (name, bar if name == "bar" else WIDTHS.get(name))
        for name, _ in STAGE_COLUMNS
        if name in shown
    ]


class StageLine:
    """One stage's line, laid out for the width it is drawn in (see stage_columns)."""

    def __init__(self, cells: tuple):
        self.cells = cells

    def __rich_console__(self, console, options):
        title, (total, done, pulse), status, counts, rate, eta, errors, detail = self.cells
        values = {
            "stage": Text(title),
            "status": Text(status, style=STATUS_STYLE.get(status, "")),
            "count": Text(counts),
            "rate": Text(rate),
            "eta": Text(eta),
            "errors": Text(errors, style="bold red"),
            "item": Text(detail, overflow="ellipsis", no_wrap=True),
        }
        table = Table.grid(padding=(0, 1), expand=True)
        columns = stage_columns(options.max_width)
        for name, width in columns:
            table.add_column(name, width=width, ratio=None if width else 1, no_wrap=True)
        row = [
            ProgressBar(total=total, completed=done, width=width, pulse=pulse)
            if name == "bar"
            else values[name]
            for name, width in columns
        ]
        table.add_row(*row)
        yield table


def stage_line(cells: tuple) -> StageLine:
    return StageLine(cells)


def run_header(run: RunInfo | None) -> Text:
    if run is None:
        return Text("No job yet. Press p to process this manifest.", style="dim")
    text = Text.assemble(
        plain(run.label, "bold"),
        "  ",
        plain(run.status, STATUS_STYLE.get(run.status, "")),
        plain(f"  mode {run.mode}"),
    )
    if run.cancel_requested and run.status == "running":
        text.append("  cancelling…", style="yellow")
    if run.error:
        text.append_text(plain(f"  {run.error}", "red"))
    return text


def render_usage(snapshot: Snapshot, project: bool = True) -> Text:
    """Vision-model tokens and dollars (Gemini or the team's own server): the job in focus,
    then the whole project."""
    run = snapshot.focus.usage if snapshot.focus is not None else None
    text = Text("model ", style="bold")
    text.append_text(plain(f"job: {ledger.describe(run)}" if run else "job: —"))
    if snapshot.project_usage and project:
        text.append_text(plain(f"   project: {ledger.describe(snapshot.project_usage)}", "dim"))
    return text


def render_queue(snapshot: Snapshot, names: bool = True) -> Text:
    text = Text()
    if snapshot.running:
        text.append("running: ", style="bold")
        text.append_text(
            plain(", ".join(r.label if names else f"#{r.id}" for r in snapshot.running))
        )
        text.append("   ")
    text.append(f"queued: {len(snapshot.queued)}", style="bold")
    if snapshot.queued and names:
        text.append_text(plain("  " + ", ".join(r.label for r in snapshot.queued[:4])))
        if len(snapshot.queued) > 4:
            text.append(f" … +{len(snapshot.queued) - 4}")
    return text


class Line(QuietStatic):
    DEFAULT_CSS = "Line { height: 1; }"


class JobPanel(Vertical):
    """The job in focus (a header line, one line per stage), model usage and the queue."""

    def compose(self) -> ComposeResult:
        yield Line("Loading…", id="job-header")
        yield Line(id="job-usage")
        yield Line(id="job-queue")

    def show(self, snapshot: Snapshot) -> None:
        header = run_header(snapshot.focus)
        self.query_one("#job-header", Line).show(header, text_key(header))
        stages = snapshot.focus.stages if snapshot.focus else ()
        lines = list(self.query(".stage-line").results(Line))
        if len(lines) != len(stages):  # another job in focus: rare, a layout pass is fine
            for line in lines[len(stages) :]:
                line.remove()
            added = [Line(classes="stage-line") for _ in range(len(stages) - len(lines))]
            if added:
                self.mount_all(added, before="#job-usage")
            lines = lines[: len(stages)] + added
        for line, stage in zip(lines, stages):
            cells = stage_cells(stage)
            line.show(stage_line(cells), cells)
        usage = Fitted(render_usage(snapshot), render_usage(snapshot, project=False))
        self.query_one("#job-usage", Line).show(usage, usage.key)
        queue = Fitted(render_queue(snapshot), render_queue(snapshot, names=False))
        self.query_one("#job-queue", Line).show(queue, queue.key)


def describe_daemon(status) -> Text:
    """The daemon's state in words that change only when the state does: a live heartbeat is
    "responding", not "1.0s ago" (which would repaint the line every second)."""
    if status is None:
        return Text("daemon: checking…", style="dim")
    if isinstance(status, TeamStatus):
        return describe_team(status)
    if not status.running:
        return Text("● no daemon runs for this project — press D to start one", style="bold yellow")
    age = status.heartbeat_age_s
    if status.responding:
        style, state = "green", "responding"
    elif age is None:
        style, state = "yellow", "starting (no heartbeat yet)"
    else:
        style, state = "bold red", f"NOT RESPONDING (no heartbeat for {coarse_age(age)})"
    work = f" · run #{status.current_run}" if status.current_run else " · idle"
    watcher = f" · watcher {status.watcher}" if status.watcher else ""
    text = plain(f"● daemon pid {status.pid} · {state}{work}{watcher}", style=style)
    if status.problem:
        text.append_text(plain(f" · problem: {status.problem}", "bold red"))
    return text


#: The daemons a shared-queue bar names one by one; more are counted.
NAMED_DAEMONS = 4


def _named(entries, describe) -> str:
    names = [describe(e) for e in entries[:NAMED_DAEMONS]]
    if len(entries) > NAMED_DAEMONS:
        names.append(f"+{len(entries) - NAMED_DAEMONS} more")
    return " · ".join(names)


def describe_team(status) -> Text:
    """The daemons of a shared-queue project (vidpipe.ops.daemon_registry.TeamStatus), each by
    host:pid and what it works on; like the single daemon's line, no ages that tick."""
    serving, silent = status.serving, status.silent
    if serving:
        count = f"{len(serving)} daemon{'s' if len(serving) > 1 else ''} running"
        text = plain(
            f"● {count} (shared queue) · "
            + _named(
                serving,
                lambda e: f"{e.name} {f'run #{e.current_run}' if e.current_run else 'idle'}",
            ),
            style="green",
        )
    else:
        text = plain(
            "● no daemon serves this project (shared queue) — press D to start one "
            "here, or vidpipe-daemon on a GPU box",
            style="bold yellow",
        )
    if silent:
        text.append_text(
            plain(f" · NOT RESPONDING: {_named(silent, lambda e: e.name)}", "bold red")
        )
    return text


def short_daemon(status) -> Text:
    """The daemon's state in a few words, for a narrow terminal."""
    full = describe_daemon(status)
    if status is not None and not isinstance(status, TeamStatus) and not status.running:
        return Text("● no daemon — press D to start one", style="bold yellow")
    return full


class DaemonBar(QuietStatic):
    def show_status(self, status) -> None:
        text = Fitted(describe_daemon(status), short_daemon(status))
        self.show(text, text.key)

    def show_unreachable(self, problem: str) -> None:
        text = Fitted(
            plain(f"● database unreachable, retrying · {problem}", style="bold red"),
            plain("● database unreachable, retrying", style="bold red"),
        )
        self.show(text, text.key)
