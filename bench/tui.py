"""vidpipe-tui figures: cold start against a bare Textual app, grid load with 5 000 assets, delay
from a progress row changing (committed by another connection) to the dashboard showing it, and the
bytes written to a real terminal (tmux pipe-pane) idle, per cursor move and per progress update.

    .venv/bin/python bench/tui.py [--runs 7] [--assets 5000] [--updates 20] [--only bytes|speed]

Targets (issue 6): start within 2x a bare Textual app; grid under 1 s; progress within 0.5 s.
Targets (issue 14, a slow SSH link): idle <= 200 B/s; a cursor move <= 1.5 KB with the preview
hidden, <= 10 KB with the half-block preview shown; a progress update <= 1 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file is bench/tui.py: keep its folder off the path so `tui` is the package, not this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO / "tests"))

from support.tui_support import bulk_assets, make_processed_project, make_project, text_of  # noqa: E402

BARE = textwrap.dedent("""
    import time
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Bare(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

        def on_mount(self):
            self.call_after_refresh(self.painted)

        def painted(self):
            print(time.time())  # wall clock: the parent subtracts its launch time
            self.exit()

    Bare().run(headless=True)
""")

VIDPIPE = textwrap.dedent("""
    import sys
    import time
    from tui import graphics
    graphics.start_probe()  # as tui.main does (not a terminal here: nothing to ask)
    from tui.app import VidpipeApp

    class FirstPaint(VidpipeApp):
        def on_mount(self):  # Textual calls VidpipeApp.on_mount too (handlers of each class)
            self.call_after_refresh(self.painted)

        def painted(self):
            print(time.time())
            self.exit()

    app = FirstPaint(sys.argv[1], watch_folder=False, keymap={})
    graphics.finish_probe()
    app.run(headless=True)
""")


def cold_start(code: str, args: list[str], runs: int) -> list[float]:
    """Seconds from launching the interpreter to the app's first refresh (teardown excluded)."""
    times = []
    for _ in range(runs):
        launched = time.time()
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            check=True,
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout
        times.append(float(out.strip().splitlines()[-1]) - launched)
    return times


def tmux_start(command: str, markers: list[str], runs: int) -> dict[str, list[float]]:
    """Launch in a real terminal (tmux) and poll the pane until each marker shows; includes the
    terminal queries on a tty. Poll step ~10 ms. Seconds per marker, one per run."""
    import shutil
    import uuid

    seen: dict[str, list[float]] = {marker: [] for marker in markers}
    if shutil.which("tmux") is None:
        return {}
    for _ in range(runs):
        socket = f"vidpipe-bench-{uuid.uuid4().hex[:8]}"
        tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
        launched = time.perf_counter()
        subprocess.run(
            [
                *tmux,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "45",
                f"env -u COLUMNS -u LINES TERM=xterm-256color {command}",
            ],
            check=True,
        )
        try:
            left = list(markers)
            while left:
                pane = subprocess.run(
                    [*tmux, "capture-pane", "-p"], capture_output=True, text=True
                ).stdout
                for marker in [m for m in left if m in pane]:
                    seen[marker].append(time.perf_counter() - launched)
                    left.remove(marker)
                if time.perf_counter() - launched > 30:
                    raise RuntimeError(f"{left!r} never appeared:\n{pane}")
                time.sleep(0.01)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)
            # tmux leaves the socket file of a killed server behind
            tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
            Path(tmpdir, f"tmux-{os.getuid()}", socket).unlink(missing_ok=True)
    return seen


async def longest_stall(stop: asyncio.Event, started: asyncio.Event) -> float:
    """The longest the event loop went without running this task (it asks every 2 ms): how long
    a key press or a repaint would have waited."""
    worst, last = 0.0, time.perf_counter()
    started.set()
    while not stop.is_set():
        await asyncio.sleep(0.002)
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    return worst


class Stall:
    """``async with Stall() as s: ...`` then ``s.worst``: the longest stall while inside."""

    async def __aenter__(self):
        self.stop, started = asyncio.Event(), asyncio.Event()
        self.task = asyncio.create_task(longest_stall(self.stop, started))
        await started.wait()
        return self

    async def __aexit__(self, *exc):
        self.stop.set()
        self.worst = await self.task


async def grid_and_progress(root: Path, assets: int, updates: int) -> dict:
    from tui.app import VidpipeApp
    from vidpipe.store.models import Manifest
    from vidpipe.pipeline.runs import create_run

    app = VidpipeApp(root, watch_folder=False, keymap={})
    results: dict = {}
    async with app.run_test(size=(180, 50)) as pilot:
        screen = app.main_screen
        started = time.perf_counter()
        while screen.table.row_count < assets:
            await pilot.pause(0.005)
        results["first_load_s"] = time.perf_counter() - started

        reloads, stalls, rebuilds, rebuild_stalls, pages = [], [], [], [], []
        for _ in range(3):
            folder = screen.folder
            screen.folder = None
            async with Stall() as stall:
                start = time.perf_counter()
                screen.select_folder(folder)  # drop the rows, query, rebuild the table
                while screen.table.row_count < assets or screen.signature is None:
                    await pilot.pause(0.005)
                reloads.append(time.perf_counter() - start)
                await pilot.pause(0.05)  # the repaint after the last rows
            stalls.append(stall.worst)
        for key in ("name", "sort_order", "state"):  # a rebuild without a query: a sort
            async with Stall() as stall:
                start = time.perf_counter()
                screen.sort_by(key)
                while getattr(screen.table, "filling", False) or screen.table.row_count < assets:
                    await pilot.pause(0.005)
                rebuilds.append(time.perf_counter() - start)
                await pilot.pause(0.05)
            rebuild_stalls.append(stall.worst)
        for _ in range(3):  # for scale: one page of the grid scrolled, i.e. one full repaint
            async with Stall() as stall:
                await pilot.press("pagedown")
                await pilot.pause(0.05)
            pages.append(stall.worst)
        results["reload_s"], results["reload_stall_s"] = reloads, stalls
        results["sort_s"], results["sort_stall_s"] = rebuilds, rebuild_stalls
        results["page_stall_s"] = pages

        manifest_id = Manifest.get(Manifest.folder == "bulk").id
        run = create_run("process", manifest_id=manifest_id)
        writer = sqlite3.connect(app.project.database_path, isolation_level=None, timeout=30)
        panel = screen.query_one("#job-panel")
        delays = []
        for step in range(1, updates + 1):
            writer.execute(
                "UPDATE stage_progress SET status='running', done=?, total=100, "
                "current_item=? WHERE run_id=? AND stage='prompts'",
                (step, f"item {step}", run.id),
            )
            committed = time.perf_counter()
            needle = f"{step}/100"
            while needle not in text_of(panel):
                await pilot.pause(0.005)
            delays.append(time.perf_counter() - committed)
        writer.close()
        results["progress_delay_s"] = delays
    return results


# -- terminal bytes: what a slow SSH link carries -------------------------------------------------

BARE_GRID = textwrap.dedent("""
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from textual.app import App
    from textual.widgets import DataTable, Footer, Header, Static

    class BareGrid(App):
        BINDINGS = [("u", "advance", "Advance")]

        def compose(self):
            yield Header()
            yield Static(id="progress")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Footer()

        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("Tag", "Name", "Type", "State", "Prompt", "Quality")
            for i in range(12):
                table.add_row(f"CHAR_{i + 1:02d}", f"hero_{i:02d}", "Character", "processed",
                              "cinematic photo of a person in a city street", "0.61")
            self.done = 0
            self.action_advance()

        def action_advance(self):
            self.done += 1
            line = Table.grid(padding=(0, 1))
            line.add_row("Prompts", ProgressBar(total=100, completed=self.done, width=24),
                         "running", f"{self.done}/100", f"item {self.done}")
            self.query_one("#progress").update(line)

    BareGrid().run()
""")

#: The terminal of a default SSH session: 256 colours (SSH does not forward COLORTERM), and
#: SSH_CONNECTION set as sshd sets it (vidpipe-tui picks its preview quality from it).
TERMINAL_ENV = (
    "env -u COLUMNS -u LINES -u COLORTERM TERM=xterm-256color "
    "'SSH_CONNECTION=192.0.2.10 50022 192.0.2.20 22'"
)
WIDTH, HEIGHT = 160, 45


class CapturedPane:
    """A program in a tmux pane of its own server, with every byte it writes to the terminal
    appended to a file (``pipe-pane``)."""

    def __init__(self, command: str, capture: Path):
        import uuid

        self.socket = f"vidpipe-bench-{uuid.uuid4().hex[:8]}"
        self.capture = capture
        self.tmux = ["tmux", "-L", self.socket, "-f", "/dev/null"]
        subprocess.run(
            [
                *self.tmux,
                "new-session",
                "-d",
                "-s",
                "b",
                "-x",
                str(WIDTH),
                "-y",
                str(HEIGHT),
                f"{TERMINAL_ENV} {command}",
            ],
            check=True,
        )
        subprocess.run([*self.tmux, "pipe-pane", "-o", "-t", "b", f"cat >> {capture}"], check=True)

    def written(self) -> int:
        try:
            return self.capture.stat().st_size
        except FileNotFoundError:
            return 0

    def screen(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "b", *keys], check=True)

    def wait_screen(self, text: str, timeout: float = 60) -> None:
        """Wait for ``text`` (a regular expression) on the screen."""
        import re

        deadline = time.monotonic() + timeout
        while not re.search(text, self.screen()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{text!r} never appeared:\n{self.screen()}")
            time.sleep(0.05)

    def bytes_during(self, seconds: float, action=None) -> int:
        """Bytes written in ``seconds`` from now (after ``action()`` if given)."""
        before = self.written()
        if action is not None:
            action()
        time.sleep(seconds)
        return self.written() - before

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmpdir, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)


IDLE_S = 10.0
WINDOW_S = 1.5  # per key press or progress update: long enough for a debounced preview
SETTLE_S = 3.0


def _per_event(pane: CapturedPane, idle_rate: float, count: int, act) -> dict:
    """Bytes in the window after each of ``count`` events, raw and less the idle rate."""
    raw = [pane.bytes_during(WINDOW_S, lambda i=i: act(i)) for i in range(count)]
    return {"raw": raw, "net": [max(0.0, b - idle_rate * WINDOW_S) for b in raw]}


def bytes_of_bare(tmp: Path, moves: int, updates: int) -> dict:
    script = tmp / "bare_grid.py"
    script.write_text(BARE_GRID)
    pane = CapturedPane(f"{sys.executable} {script}", tmp / "bare.out")
    try:
        pane.wait_screen("CHAR_12")
        time.sleep(SETTLE_S)
        idle = pane.bytes_during(IDLE_S) / IDLE_S
        down = _per_event(pane, idle, moves, lambda i: pane.keys("Down"))
        progress = _per_event(pane, idle, updates, lambda i: pane.keys("u"))
    finally:
        pane.kill()
    return {"idle": idle, "move": down, "progress": progress}


def bytes_of_vidpipe(tmp: Path, moves: int, updates: int) -> dict:
    from daemon.client import start_detached
    from vidpipe.ops.daemon_state import daemon_status
    from vidpipe.store.models import Manifest, StageProgress
    from vidpipe.pipeline.runs import claim, create_run
    from vidpipe.store.session import open_project

    root = make_processed_project(tmp / "processed", images=12)
    daemon = start_detached(root).pid
    session = open_project(root)
    pane = CapturedPane(
        f"{Path(sys.executable).parent / 'vidpipe-tui'} {root}", tmp / "vidpipe.out"
    )
    figures: dict = {}
    try:
        pane.wait_screen("CHAR_12")
        pane.wait_screen("daemon pid")
        pane.wait_screen(r"hero_00\.jpg +\d+×\d+")  # the caption under the first picture
        time.sleep(SETTLE_S)
        idle = figures["idle"] = pane.bytes_during(IDLE_S) / IDLE_S
        figures["move_preview"] = _per_event(pane, idle, moves, lambda i: pane.keys("Down"))
        pane.keys("i")
        time.sleep(SETTLE_S)
        figures["move_hidden"] = _per_event(pane, idle, moves, lambda i: pane.keys("Up"))
        pane.keys("i")
        time.sleep(SETTLE_S)
        pane.keys("I")  # preview quality: low (the SSH default) -> high
        time.sleep(SETTLE_S)
        figures["move_preview_high"] = _per_event(pane, idle, moves, lambda i: pane.keys("Down"))
        pane.keys("I", "I")  # -> off -> low
        time.sleep(SETTLE_S)

        manifest_id = Manifest.get(Manifest.folder == "characters").id
        run = create_run("process", manifest_id=manifest_id)
        claim(run.id)
        StageProgress.update(status="done", done=12, total=12).where(
            StageProgress.run == run.id, StageProgress.stage != "prompts"
        ).execute()
        time.sleep(SETTLE_S)  # the dashboard switches to the new job: not a progress update
        writer = sqlite3.connect(session.project.database_path, isolation_level=None, timeout=30)

        def step(i: int) -> None:
            writer.execute(
                "UPDATE stage_progress SET status='running', done=?, total=100, "
                "current_item=?, started_at=COALESCE(started_at, ?) WHERE run_id=? "
                "AND stage='prompts'",
                (i + 1, f"hero_{i % 12:02d}.jpg", "2026-01-01 00:00:00", run.id),
            )

        figures["progress"] = _per_event(pane, idle, updates, step)
        writer.close()
    finally:
        pane.kill()
        os.kill(daemon, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while daemon_status(root).running and time.monotonic() < deadline:
            time.sleep(0.1)
        session.close()
    return figures


def measure_bytes(moves: int = 8, updates: int = 8) -> dict | None:
    import shutil

    if shutil.which("tmux") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return {
            "bare": bytes_of_bare(Path(tmp), moves, updates),
            "vidpipe": bytes_of_vidpipe(Path(tmp), moves, updates),
        }


def print_bytes(figures: dict | None) -> None:
    if figures is None:
        print("terminal bytes: tmux is not installed, skipped")
        return
    med = statistics.median
    bare, ours = figures["bare"], figures["vidpipe"]

    def event(name: str, sample: dict, base: dict | None, target: str) -> None:
        net = sample["net"]
        line = (
            f"  {name:34s} vidpipe-tui median {med(net):8.0f} B (max {max(net):.0f}, "
            f"raw median {med(sample['raw']):.0f})"
        )
        if base is not None:
            line += f"   bare {med(base['net']):.0f} B"
        print(line + f"   target {target}")

    print(
        f"bytes written to a real terminal (tmux pipe-pane, {WIDTH}x{HEIGHT}, "
        f"TERM=xterm-256color, 12 processed assets, daemon running):"
    )
    print(
        f"  {'idle, nothing changing':34s} vidpipe-tui {ours['idle']:8.0f} B/s"
        f"   bare {bare['idle']:.0f} B/s   target <= 200 B/s"
    )
    event("cursor move, preview shown", ours["move_preview"], bare["move"], "<= 10 KB")
    if "move_preview_high" in ours:
        event("  same, preview quality high (I)", ours["move_preview_high"], None, "-")
    event("cursor move, preview hidden (i)", ours["move_hidden"], bare["move"], "<= 1.5 KB")
    event("progress update while a job runs", ours["progress"], bare["progress"], "<= 1 KB")
    print(
        f"  (per event: bytes in the {WINDOW_S} s after it, less the idle rate; "
        f"{len(ours['progress']['raw'])} events each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--assets", type=int, default=5000)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument(
        "--only", choices=["bytes", "speed"], help="only the terminal bytes, or only the timings"
    )
    args = parser.parse_args()
    if args.only != "speed":
        print_bytes(measure_bytes())
    if args.only == "bytes":
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp) / "project", images=0)
        bulk_assets(root, args.assets, folder="bulk")

        cold_start(BARE, [], 1)  # warm the file cache for both
        cold_start(VIDPIPE, [str(root)], 1)
        bare = cold_start(BARE, [], args.runs)
        vidpipe = cold_start(VIDPIPE, [str(root)], args.runs)
        bare_script = Path(tmp) / "bare.py"
        bare_script.write_text(
            BARE.replace("self.exit()", "pass")
            .replace("print(time.time())", "pass")
            .replace("run(headless=True)", "run()")
        )
        # First frame: a text of the first frame ("hello"; the grid header "Prompt"). Footer:
        # Textual's Footer fills its keys one frame later, for both apps.
        tmux_bare = tmux_start(f"{sys.executable} {bare_script}", ["hello", "palette"], args.runs)
        tmux_vidpipe = tmux_start(
            f"{Path(sys.executable).parent / 'vidpipe-tui'} {root}",
            ["Prompt", "Next unreviewed"],
            args.runs,
        )
        figures = asyncio.run(grid_and_progress(root, args.assets, args.updates))

    med = statistics.median
    delays = figures["progress_delay_s"]
    print(f"launch to first paint (median of {args.runs}, headless, interpreter start included):")
    print(f"  bare Textual app   {med(bare):.3f} s  (min {min(bare):.3f})")
    print(f"  vidpipe-tui        {med(vidpipe):.3f} s  (min {min(vidpipe):.3f})")
    print(f"  ratio              {med(vidpipe) / med(bare):.2f}x   target <= 2x")
    if tmux_bare and tmux_vidpipe:
        print(f"launch to screen in a real terminal (tmux, median of {args.runs}):")
        for what, bare_marker, tui_marker in (
            ("first frame", "hello", "Prompt"),
            ("footer keys", "palette", "Next unreviewed"),
        ):
            b, v = med(tmux_bare[bare_marker]), med(tmux_vidpipe[tui_marker])
            print(f"  {what:12s} bare {b:.3f} s   vidpipe-tui {v:.3f} s   ratio {v / b:.2f}x")
    print(f"grid with {args.assets} assets:")
    print(f"  first load after start   {figures['first_load_s']:.3f} s")
    print(
        f"  reload (query + rebuild) median {med(figures['reload_s']):.3f} s, "
        f"max {max(figures['reload_s']):.3f} s   target < 1 s"
    )
    print(
        f"  longest event-loop stall during a reload: "
        f"{max(figures['reload_stall_s']) * 1000:.0f} ms "
        f"(median of 3: {med(figures['reload_stall_s']) * 1000:.0f} ms)"
    )
    print(
        f"  re-sort (rebuild only) median {med(figures['sort_s']):.3f} s, longest stall "
        f"{max(figures['sort_stall_s']) * 1000:.0f} ms "
        f"(median {med(figures['sort_stall_s']) * 1000:.0f} ms)"
    )
    print(
        f"  for scale, page down (one full repaint of the grid): longest stall "
        f"{max(figures['page_stall_s']) * 1000:.0f} ms "
        f"(median {med(figures['page_stall_s']) * 1000:.0f} ms)"
    )
    print(
        f"progress row committed by another connection -> dashboard shows it "
        f"({args.updates} updates):"
    )
    print(
        f"  median {med(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms   target < 500 ms"
    )


if __name__ == "__main__":
    main()
