"""vidpipe-tui figures: cold start against a bare Textual app, grid load with 5 000 assets, delay from
a progress row changing (committed by another connection) to the dashboard showing it.

    .venv/bin/python bench/tui.py [--runs 7] [--assets 5000] [--updates 20]

Targets (issue 6): start within 2x a bare Textual app; grid under 1 s; progress within 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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

from tui_support import bulk_assets, make_project, text_of  # noqa: E402

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
        out = subprocess.run([sys.executable, "-c", code, *args], check=True, cwd=REPO,
                             capture_output=True, text=True).stdout
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
        subprocess.run([*tmux, "new-session", "-d", "-x", "160", "-y", "45",
                        f"env -u COLUMNS -u LINES TERM=xterm-256color {command}"], check=True)
        try:
            left = list(markers)
            while left:
                pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                      text=True).stdout
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
    from vidpipe.models import Manifest
    from vidpipe.runs import create_run

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
            writer.execute("UPDATE stage_progress SET status='running', done=?, total=100, "
                           "current_item=? WHERE run_id=? AND stage='prompts'",
                           (step, f"item {step}", run.id))
            committed = time.perf_counter()
            needle = f"{step}/100"
            while needle not in text_of(panel):
                await pilot.pause(0.005)
            delays.append(time.perf_counter() - committed)
        writer.close()
        results["progress_delay_s"] = delays
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--assets", type=int, default=5000)
    parser.add_argument("--updates", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp) / "project", images=0)
        bulk_assets(root, args.assets, folder="bulk")

        cold_start(BARE, [], 1)  # warm the file cache for both
        cold_start(VIDPIPE, [str(root)], 1)
        bare = cold_start(BARE, [], args.runs)
        vidpipe = cold_start(VIDPIPE, [str(root)], args.runs)
        bare_script = Path(tmp) / "bare.py"
        bare_script.write_text(BARE.replace("self.exit()", "pass").replace(
            "print(time.time())", "pass").replace("run(headless=True)", "run()"))
        # First frame: a text of the first frame ("hello"; the grid header "Prompt"). Footer:
        # Textual's Footer fills its keys one frame later, for both apps.
        tmux_bare = tmux_start(f"{sys.executable} {bare_script}", ["hello", "palette"],
                               args.runs)
        tmux_vidpipe = tmux_start(f"{Path(sys.executable).parent / 'vidpipe-tui'} {root}",
                                  ["Prompt", "Next unreviewed"], args.runs)
        figures = asyncio.run(grid_and_progress(root, args.assets, args.updates))

    med = statistics.median
    delays = figures["progress_delay_s"]
    print(f"launch to first paint (median of {args.runs}, headless, interpreter start included):")
    print(f"  bare Textual app   {med(bare):.3f} s  (min {min(bare):.3f})")
    print(f"  vidpipe-tui        {med(vidpipe):.3f} s  (min {min(vidpipe):.3f})")
    print(f"  ratio              {med(vidpipe) / med(bare):.2f}x   target <= 2x")
    if tmux_bare and tmux_vidpipe:
        print(f"launch to screen in a real terminal (tmux, median of {args.runs}):")
        for what, bare_marker, tui_marker in (("first frame", "hello", "Prompt"),
                                              ("footer keys", "palette", "Next unreviewed")):
            b, v = med(tmux_bare[bare_marker]), med(tmux_vidpipe[tui_marker])
            print(f"  {what:12s} bare {b:.3f} s   vidpipe-tui {v:.3f} s   ratio {v / b:.2f}x")
    print(f"grid with {args.assets} assets:")
    print(f"  first load after start   {figures['first_load_s']:.3f} s")
    print(f"  reload (query + rebuild) median {med(figures['reload_s']):.3f} s, "
          f"max {max(figures['reload_s']):.3f} s   target < 1 s")
    print(f"  longest event-loop stall during a reload: "
          f"{max(figures['reload_stall_s']) * 1000:.0f} ms "
          f"(median of 3: {med(figures['reload_stall_s']) * 1000:.0f} ms)")
    print(f"  re-sort (rebuild only) median {med(figures['sort_s']):.3f} s, longest stall "
          f"{max(figures['sort_stall_s']) * 1000:.0f} ms "
          f"(median {med(figures['sort_stall_s']) * 1000:.0f} ms)")
    print(f"  for scale, page down (one full repaint of the grid): longest stall "
          f"{max(figures['page_stall_s']) * 1000:.0f} ms "
          f"(median {med(figures['page_stall_s']) * 1000:.0f} ms)")
    print(f"progress row committed by another connection -> dashboard shows it "
          f"({args.updates} updates):")
    print(f"  median {med(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms   "
          f"target < 500 ms")


if __name__ == "__main__":
    main()
