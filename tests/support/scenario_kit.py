"""Whole-product scenarios: a real entry point, a Gemini behaviour, a project shape and a
disturbance, then the invariants every configuration must keep.

Everything runs as users run it: `vidpipe process` and `vidpipe-daemon` are subprocesses, images
are dropped into the project folder, a reprocess is queued through the TUI's own job function, a
person edits through `vidpipe edit` while the job runs, and the daemon is killed with SIGKILL.
Only the model service is a stand-in (the local fake Gemini server through the real
google-genai SDK, or the fake OpenAI-compatible server through the openai SDK) and, for
want of YOLO weights, the detector is support.pixel_detector (crops, faces and prompts
after it are real). Every random choice comes from the scenario's seed, printed first.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw

from support import waiting

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEOUT_S = 420
wait_for = partial(waiting.wait_for, timeout=TIMEOUT_S, interval=0.1)

ENTRIES = ("process", "daemon", "reprocess")
GEMINI_MODES = ("offline", "latency", "rate_limit", "unavailable", "malformed", "hang", "mixed")
SHAPES = ("one", "three")
BACKENDS = ("gemini", "openai")  # prompt_backend: Google's service or the team's own server
PROMPT_FIELDS = ("reverse_prompt", "visual_description")
EDITABLE = (
    "reverse_prompt",
    "visual_description",
    "description",
    "name",
    "asset_type",
    "sort_order",
)
TYPES = ("CHARACTER", "OBJECT", "ENVIRONMENT", "STYLE")
LOCKED = "database is locked"
GUARD = "StaleSnapshotWrite"


@dataclass(frozen=True)
class Scenario:
    entry: str
    gemini: str
    shape: str
    edit: bool
    kill: bool
    seed: int
    backend: str = "gemini"

    @property
    def name(self) -> str:
        parts = [self.entry, self.gemini, self.shape]
        parts += [self.backend] if self.backend != "gemini" else []
        parts += ["edit"] if self.edit else []
        parts += ["kill9"] if self.kill else []
        return "-".join(parts) + f"-seed{self.seed}"

    @classmethod
    def from_seed(cls, seed: int) -> "Scenario":
        """A random point of the matrix (kill -9 only where a daemon runs)."""
        rng = random.Random(seed)
        entry = rng.choice(ENTRIES)
        gemini, shape = rng.choice(GEMINI_MODES), rng.choice(SHAPES)
        edit = rng.random() < 0.6
        kill = entry != "process" and rng.random() < 0.5
        return cls(
            entry=entry,
            gemini=gemini,
            shape=shape,
            edit=edit,
            kill=kill,
            seed=seed,
            backend=rng.choice(BACKENDS),
        )


# -- project content ---------------------------------------------------------------------------


def _package_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent.joinpath(*parts)


def _synthetic(path: Path, rng: random.Random, size=(320, 240)) -> None:
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(size[0] - 40), rng.randrange(size[1] - 40)
        draw.rectangle(
            [x, y, x + rng.randrange(30, 120), y + rng.randrange(30, 100)],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)


def _photo(source: Path, target: Path, max_side: int = 480) -> None:
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, quality=90)


def write_shape(folder: Path, shape: str, rng: random.Random) -> dict[str, list[str]]:
    """Images per manifest folder under ``folder``; returns {manifest: [file names]}.

    "one": one manifest of synthetic images. "three": real photos with faces (the detector's
    person boxes over them give person crops, which the face stage searches too), synthetic
    images, and one corrupt file that must end as an error asset, nothing else lost.
    """
    layout: dict[str, list[str]] = {}
    if shape == "one":
        for index in range(3):
            _synthetic(folder / "cast" / f"shot{index}.jpg", rng)
        layout["cast"] = [f"shot{index}.jpg" for index in range(3)]
        return layout
    _photo(_package_file("ultralytics", "assets", "zidane.jpg"), folder / "cast" / "zidane.jpg")
    _photo(_package_file("textual_image", "gracehopper.jpg"), folder / "cast" / "grace.jpg")
    _synthetic(folder / "cast" / "extra.jpg", rng)
    _photo(_package_file("ultralytics", "assets", "bus.jpg"), folder / "street" / "bus.jpg")
    _synthetic(folder / "street" / "wall.jpg", rng)
    _synthetic(folder / "props" / "box.jpg", rng)
    _synthetic(folder / "props" / "lamp.png", rng, size=(200, 300))
    (folder / "props" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    layout = {
        "cast": ["zidane.jpg", "grace.jpg", "extra.jpg"],
        "street": ["bus.jpg", "wall.jpg"],
        "props": ["box.jpg", "lamp.png", "broken.jpg"],
    }
    return layout


BAD_FILES = {"props/broken.jpg"}


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Record:
    """What happened, for the invariants."""

    outputs: list[str] = field(default_factory=list)  # every captured stdout/stderr
    edits: list[tuple[int, str, str]] = field(default_factory=list)  # (asset id, field, value)
    refused_edits: list[str] = field(default_factory=list)
    kills: list[dict] = field(default_factory=list)  # counters at each kill
    reprocessed: list[int] = field(default_factory=list)
    # Most process runs of one manifest seen waiting (QUEUED) / running at the same moment.
    most_waiting: int = 0
    most_running: int = 0
    notes: list[str] = field(default_factory=list)
    # Every tag each asset was seen with, in order (sampled while the scenario runs and after
    # each step): a tag once given never changes unless a person asks.
    tags_seen: dict[int, list[str]] = field(default_factory=dict)
    sorted_first: list[str] = field(default_factory=list)  # late drops named to sort first


class ScenarioRun:
    def __init__(self, scenario: Scenario, workdir: Path):
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.workdir = workdir
        self.root = workdir / "project"
        self.record = Record()
        self.server = None
        self.daemon: subprocess.Popen | None = None
        self.daemon_logs: list[Path] = []
        self.layout: dict[str, list[str]] = {}
        self.settings: dict[str, object] = {}
        self.session = None

    # -- set-up ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # tests/ on the path: the daemons load the detector from support.pixel_detector
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO), str(REPO / "tests"), env.get("PYTHONPATH")])
        )
        env.pop("GEMINI_API_KEY", None)
        env.pop("GOOGLE_API_KEY", None)
        if self.server is not None and self.scenario.backend == "openai":
            from support.fake_openai import DEFAULT_MODEL

            env["VIDPIPE_PROMPT_BACKEND"] = "openai"
            env["VIDPIPE_OPENAI_BASE_URL"] = self.server.base_url
            env["VIDPIPE_OPENAI_MODEL"] = DEFAULT_MODEL
        elif self.server is not None:
            env["GEMINI_API_KEY"] = "scenario-key"
            env["VIDPIPE_GEMINI_BASE_URL"] = self.server.base_url
        env["VIDPIPE_SNAPSHOT_GUARD"] = "1"
        # The person's setting, not the project's: a vidpipe.toml may only name code to import
        # once trusted (vidpipe.config.trust).
        env["VIDPIPE_DETECTOR"] = "support.pixel_detector:PixelDetector"
        return env

    def start_gemini(self):
        from support.fake_gemini import FakeGemini

        mode, rng = self.scenario.gemini, self.rng
        if mode == "offline":
            return None
        knobs: dict[str, object] = dict(
            seed=self.scenario.seed, latency_s=0.02, hang_s=60, max_faults_per_image=1
        )
        if mode == "latency":
            knobs["latency_s"] = rng.uniform(0.1, 0.4)
        elif mode == "rate_limit":
            knobs.update(
                rate_limit_fraction=rng.uniform(0.3, 0.6),
                retry_after_s=rng.choice([0.1, 0.3, 1.0]),
                max_faults_per_image=3,
            )
        elif mode == "unavailable":
            knobs.update(unavailable_fraction=rng.uniform(0.3, 0.6), max_faults_per_image=3)
        elif mode == "malformed":
            knobs.update(malformed_fraction=rng.uniform(0.3, 0.6))
        elif mode == "hang":
            knobs.update(hang_fraction=rng.uniform(0.2, 0.4))
        else:  # mixed: a little of everything
            knobs.update(
                latency_s=rng.uniform(0.02, 0.2),
                rate_limit_fraction=0.15,
                retry_after_s=0.2,
                unavailable_fraction=0.1,
                malformed_fraction=0.1,
                hang_fraction=0.05,
                bad_body_fraction=0.05,
            )
        if self.scenario.backend == "openai":
            self.server = _fake_openai(knobs).start()
        else:
            self.server = FakeGemini(**knobs).start()
        return self.server

    def write_config(self) -> None:
        self.settings = {
            "prompt_timeout_s": 1.5,  # a hanging request gives up quickly and is retried
            "prompt_max_retries": 6,
            "prompt_concurrency": 4,
        }
        lines = [f"{k} = {json.dumps(v)}" for k, v in self.settings.items()]
        with open(self.root / "vidpipe.toml", "a", encoding="utf-8") as handle:
            handle.write("\n" + "\n".join(lines) + "\n")

    def run_cli(
        self, *args: str, stdin: str | None = None, timeout: float = TIMEOUT_S
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(BIN / "vidpipe"), *args],
            env=self.env(),
            cwd=REPO,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.record.outputs.append(f"$ vidpipe {' '.join(args)}\n{result.stdout}{result.stderr}")
        return result

    # -- entries ---------------------------------------------------------------------------
    def _watch_jobs(self, stop: threading.Event) -> None:
        """One job per manifest at a time: sample the runs while the scenario goes on."""
        from vidpipe.store.models import db

        try:
            self._sample_jobs(stop)
        finally:
            db.close()  # this thread's connection

    def _sample_jobs(self, stop: threading.Event) -> None:
        from peewee import fn

        from vidpipe.store.models import Run, RunStatus

        while not stop.wait(0.1):
            self.sample_tags()
            with self._db():
                for status, attribute in (
                    (RunStatus.QUEUED, "most_waiting"),
                    (RunStatus.RUNNING, "most_running"),
                ):
                    most = (
                        Run.select(fn.COUNT(Run.id))
                        .where(Run.kind == "process", Run.status == status)
                        .group_by(Run.manifest)
                        .order_by(fn.COUNT(Run.id).desc())
                        .limit(1)
                        .scalar()
                        or 0
                    )
                    setattr(self.record, attribute, max(getattr(self.record, attribute), most))

    def execute(self) -> None:
        print(
            f"\nSCENARIO {self.scenario.name} (replay: make soak SEED={self.scenario.seed} N=1"
            f" or pytest tests/scenarios/test_scenarios.py --soak-seed={self.scenario.seed} --soak=1)",
            flush=True,
        )
        self.start_gemini()
        try:
            init = self.run_cli("init", str(self.root))
            assert init.returncode == 0, init.stdout + init.stderr
            self.write_config()
            self._db()  # bound once, before any other thread reads
            stop = threading.Event()
            watcher = threading.Thread(target=self._watch_jobs, args=(stop,), daemon=True)
            watcher.start()
            try:
                getattr(self, f"_entry_{self.scenario.entry}")()
            finally:
                stop.set()
                watcher.join(timeout=30)
        finally:
            self.stop_daemon()
            if self.server is not None:
                self.server.stop()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def sample_tags(self) -> None:
        """Note each asset's tag now (called by the sampler thread and after every step)."""
        from vidpipe.store.models import Asset

        with self._db():
            rows = list(Asset.select(Asset.id, Asset.manifest_tag).tuples())
        for asset_id, tag in rows:
            seen = self.record.tags_seen.setdefault(asset_id, [])
            if tag and (not seen or seen[-1] != tag):
                seen.append(tag)

    def _first_drop_wanted(self) -> bool:
        """Whether this scenario drops, late, a file whose name sorts before every other
        (drawn from its own generator: the scenario's other draws stay as they were)."""
        return random.Random(self.scenario.seed * 5 + 3).random() < 0.7

    def _drop_sorting_first(self) -> None:
        """A new image, after the others have their tags, named to sort before all of them."""
        rng = random.Random(self.scenario.seed * 5 + 4)
        manifest = rng.choice(sorted(self.layout))
        name = f"000_first_{self.scenario.seed}.jpg"
        _synthetic(self.workdir / "first" / name, rng)
        shutil.copy(self.workdir / "first" / name, self.root / manifest / name)
        self.layout[manifest].append(name)
        self.record.sorted_first.append(f"{manifest}/{name}")
        self.record.notes.append(f"late drop sorting first: {manifest}/{name}")

    def _entry_process(self) -> None:
        self.layout = write_shape(self.root, self.scenario.shape, self.rng)
        editor = self._start_editor()
        try:
            result = self.run_cli("process", str(self.root))
        finally:
            self._stop_editor(editor)
        self.record.notes.append(f"process exit {result.returncode}")
        assert result.returncode in (0, 1), result.stdout + result.stderr
        self.sample_tags()
        if self._first_drop_wanted():
            self._drop_sorting_first()
            again = self.run_cli("process", str(self.root))
            self.record.notes.append(f"process after the late drop exit {again.returncode}")
            self.sample_tags()
        if self.scenario.edit:
            # Edits that landed after the run: a second run must keep them (and ask nothing).
            again = self.run_cli("process", str(self.root))
            self.record.notes.append(f"second process exit {again.returncode}")

    def _entry_daemon(self) -> None:
        self.start_daemon()
        editor = self._start_editor()
        try:
            plan = self._plan_drops()
            failures: list[BaseException] = []

            def drop() -> None:
                try:
                    self._drop(plan)
                except BaseException as exc:  # handed to the scenario's thread below
                    failures.append(exc)

            dropper = threading.Thread(target=drop, daemon=True)
            dropper.start()  # a kill may land while images are still arriving
            if self.scenario.kill:
                for _ in range(self.rng.choice((1, 1, 2))):
                    self._kill_at_random_point()
            dropper.join(timeout=120)
            if failures:
                raise failures[0]
            self.wait_idle()
            if self._first_drop_wanted():
                self._drop_sorting_first()
                self.wait_idle()
        finally:
            self._stop_editor(editor)
        self.wait_idle()

    def _entry_reprocess(self) -> None:
        self.start_daemon()
        self._drop(self._plan_drops())
        self.wait_idle()
        if self._first_drop_wanted():
            self._drop_sorting_first()
            self.wait_idle()
        editor = self._start_editor()
        try:
            self._queue_reprocess()
            if self.scenario.kill:
                for _ in range(self.rng.choice((1, 1, 2))):
                    self._kill_at_random_point(reprocess=True)
            self.wait_idle()
        finally:
            self._stop_editor(editor)
        self.wait_idle()

    # -- the daemon ------------------------------------------------------------------------
    def start_daemon(self) -> None:
        log = self.workdir / f"daemon-{len(self.daemon_logs)}.out"
        self.daemon_logs.append(log)
        handle = open(log, "w")
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "daemon.main", str(self.root)],
            cwd=REPO,
            env=self.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        handle.close()
        from vidpipe.ops.daemon_state import daemon_status

        wait_for(
            lambda: (
                self.daemon.poll() is not None or daemon_status(self.root).pid == self.daemon.pid
            ),
            "the daemon to start",
        )
        assert self.daemon.poll() is None, log.read_text()

    def stop_daemon(self) -> None:
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(timeout=30)
                self.record.notes.append("daemon did not stop on SIGTERM within 90 s")
        self.daemon = None

    def _plan_drops(self) -> list[tuple[float, bool, list[tuple[str, str]]]]:
        """Images arrive in one to three bursts (delay, as one folder moved in?, files), drawn
        from a generator of their own: the drops run beside the kills, in another thread."""
        rng = random.Random(self.scenario.seed * 3 + 2)
        staging = self.workdir / "staging"
        self.layout = write_shape(staging, self.scenario.shape, rng)
        files = [(manifest, name) for manifest, names in self.layout.items() for name in names]
        rng.shuffle(files)
        bursts = rng.randint(1, 3)
        cut = sorted(rng.sample(range(1, len(files)), bursts - 1)) if bursts > 1 else []
        groups = [files[a:b] for a, b in zip([0, *cut], [*cut, len(files)])]
        return [
            (rng.uniform(0.2, 2.5) if index else 0.0, rng.random() < 0.5, group)
            for index, group in enumerate(groups)
        ]

    def _drop(self, plan) -> None:
        staging = self.workdir / "staging"
        for index, (delay, as_folder, group) in enumerate(plan):
            time.sleep(delay)
            if as_folder:
                batch = staging / f"batch{index}"
                for manifest, name in group:  # a whole folder, moved in at once
                    (batch / manifest).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(staging / manifest / name, batch / manifest / name)
                for manifest_dir in batch.iterdir():
                    target = self.root / manifest_dir.name
                    if target.exists():
                        for file in manifest_dir.iterdir():
                            os.replace(file, target / file.name)
                    else:
                        os.replace(manifest_dir, target)
            else:
                for manifest, name in group:
                    (self.root / manifest).mkdir(exist_ok=True)
                    shutil.copy(staging / manifest / name, self.root / manifest / name)

    def _kill_at_random_point(self, reprocess: bool = False) -> None:
        """SIGKILL the daemon once the job reaches a random stage (plus a random moment), then
        start a new one."""
        from vidpipe.store.models import Run, RunStatus, StageProgress, StageStatus

        stages = (
            ["detection", "prompts", "tags"]
            if reprocess
            else ["contact_sheet", "detection", "faces", "prompts", "tags", "characters"]
        )
        if self.rng.random() < 0.3:  # at a moment, whatever is happening (drops, ingest ...)
            moment = self.rng.uniform(0.2, 6.0)
            self.record.notes.append(f"kill -9 after {moment:.2f}s")
            time.sleep(moment)
            self._kill_and_restart()
            return
        target = self.rng.choice(stages)
        extra = self.rng.uniform(0, 1.5)
        self.record.notes.append(f"kill -9 at {target} + {extra:.2f}s")

        def reached() -> bool:
            with self._db():
                active = [r.id for r in Run.select(Run.id).where(Run.status == RunStatus.RUNNING)]
                if not active:
                    return self._idle_now()
                return (
                    StageProgress.select()
                    .where(
                        StageProgress.run.in_(active),
                        StageProgress.stage == target,
                        StageProgress.status != StageStatus.PENDING,
                    )
                    .exists()
                )

        wait_for(reached, f"the job to reach {target}", interval=0.02)
        time.sleep(extra)
        self._kill_and_restart()

    def _kill_and_restart(self) -> None:
        os.kill(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait(timeout=30)
        self.daemon = None
        self.record.kills.append(self._counters())
        self.start_daemon()

    def _queue_reprocess(self) -> None:
        """As the TUI does it: tui.job_requests.queue_reprocess on the assets a person selected."""
        from tui.job_requests import queue_reprocess
        from vidpipe.store.models import Asset, AssetState

        with self._db():
            candidates = [
                a.id
                for a in Asset.select(Asset.id)
                .where(Asset.state == AssetState.PROCESSED)
                .order_by(Asset.id)
            ]
            picked = self.rng.sample(candidates, min(len(candidates), self.rng.randint(1, 2)))
            queue_reprocess(self.root, picked)
        self.record.reprocessed.extend(picked)

    # -- a person editing ------------------------------------------------------------------
    def _start_editor(self):
        if not self.scenario.edit:
            return None
        stop = threading.Event()
        rng = random.Random(self.scenario.seed * 7 + 1)
        thread = threading.Thread(target=self._edit_loop, args=(stop, rng), daemon=True)
        thread.start()
        return stop, thread

    def _stop_editor(self, editor) -> None:
        if editor is not None:
            stop, thread = editor
            stop.set()
            thread.join(timeout=120)

    def _edit_loop(self, stop: threading.Event, rng: random.Random) -> None:
        from vidpipe.store.models import db

        try:
            self._edits(stop, rng)
        finally:
            db.close()  # this thread's connection

    def _edits(self, stop: threading.Event, rng: random.Random) -> None:
        """A few edits at random moments while the job runs, on assets that exist by then."""
        from vidpipe.store.models import Asset, AssetState

        wanted = rng.randint(2, 5)
        number = 0
        while number < wanted and not stop.wait(rng.uniform(0.2, 1.5)):
            with self._db():
                ids = [
                    a.id
                    for a in Asset.select(Asset.id).where(
                        Asset.state.not_in([AssetState.ERROR, AssetState.REMOVED])
                    )
                ]
            if not ids:
                continue
            asset_id = rng.choice(ids)
            name = rng.choice(EDITABLE)
            value = f"person's {name} #{number} (seed {self.scenario.seed})"
            if name == "asset_type":
                value = rng.choice(TYPES)
            elif name == "sort_order":
                value = str(rng.randrange(0, 50))
            result = self.run_cli("edit", str(self.root), str(asset_id), name, value)
            if result.returncode == 0:
                self.record.edits.append((asset_id, name, value))
            else:
                self.record.refused_edits.append(result.stdout + result.stderr)
            number += 1

    # -- waiting ---------------------------------------------------------------------------
    def _db(self):
        """The project database, opened once per scenario (``open_project`` rebinds the models
        process-wide: a thread opening it again would swap it under the others). Each thread
        gets its own connection, as in the product."""
        import contextlib

        if self.session is None:
            from vidpipe.store.session import open_project

            self.session = open_project(self.root)
        return contextlib.nullcontext(self.session)

    def _idle_now(self) -> bool:
        from vidpipe.store.models import Asset, AssetState, Run, RunStatus, Source

        expected = sum(len(names) for names in self.layout.values())
        uploaded = Asset.select().where(
            Asset.source == Source.UPLOADED, Asset.state != AssetState.REMOVED
        )
        return (
            uploaded.count() == expected
            and not uploaded.where(Asset.state == AssetState.PENDING).exists()
            and not Run.select()
            .where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED]))
            .exists()
        )

    def wait_idle(self) -> None:
        def idle() -> bool:
            if self.daemon is not None and self.daemon.poll() is not None:
                raise AssertionError(f"the daemon exited: {self.daemon_logs[-1].read_text()}")
            with self._db():
                return self._idle_now()

        # Idle twice in a row, a debounce apart: the watcher may still be about to queue.
        try:
            wait_for(idle, "every dropped file processed and no job left")
            time.sleep(1.2)
            wait_for(idle, "every dropped file processed and no job left")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {self._state()}") from None
        self.sample_tags()

    def _state(self) -> str:
        from vidpipe.store.models import Asset, Run, Source

        with self._db():
            runs = [
                (r.id, r.kind, r.manifest_id, r.status, r.args, r.error)
                for r in Run.select().order_by(Run.id)
            ]
            pending = [
                (a.id, a.file_path, a.state)
                for a in Asset.select().where(
                    Asset.source == Source.UPLOADED, Asset.state == "pending"
                )
            ]
        return f"runs {runs}; uploaded assets still pending {pending}"

    def _counters(self) -> dict:
        from vidpipe.store.models import PromptCache

        with self._db():
            rows = PromptCache.select().count()
        answered = self.server.stats()["outcomes"].get("ok", 0) if self.server else 0
        return {"answered": answered, "cache_rows": rows}

    # -- afterwards ------------------------------------------------------------------------
    def collect_outputs(self) -> str:
        texts = list(self.record.outputs)
        for log in self.daemon_logs:
            texts.append(log.read_text(errors="replace"))
        logs = self.root / ".vidpipe" / "logs"
        if logs.is_dir():
            for path in sorted(logs.iterdir()):
                if path.is_file():
                    texts.append(path.read_text(errors="replace"))
        return "\n".join(texts)


def _fake_openai(knobs: dict):
    """The fake OpenAI-compatible server (its own process) with FakeGemini's knobs."""
    from support.fake_openai import FakeOpenAIProcess

    fractions = {
        name.removesuffix("_fraction"): knobs.pop(name)
        for name in list(knobs)
        if name.endswith("_fraction")
    }
    return FakeOpenAIProcess(fractions=fractions, **knobs)


# -- the invariants ----------------------------------------------------------------------------


def check_invariants(run: ScenarioRun) -> dict:
    """Every invariant of issue 9, after a scenario; returns figures for the report line."""
    from peewee import fn

    from vidpipe.store.models import Asset, AssetState, PromptCache, Run, RunStatus, Source

    scenario, record = run.scenario, run.record
    problems: list[str] = []

    # No "database is locked" (nor the test guard's stale-snapshot error) anywhere.
    text = run.collect_outputs()
    for needle in (LOCKED, GUARD):
        if needle in text:
            at = text.index(needle)
            problems.append(
                f"{needle!r} in the output or logs: ...{text[max(0, at - 600) : at + 200]}"
            )

    with run._db():
        # No run left RUNNING (nor waiting: the scenario waited for the queue to drain).
        left = [
            (r.id, r.kind, r.status)
            for r in Run.select().where(
                Run.status.in_([RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.INTERRUPTED])
            )
        ]
        if left:
            problems.append(f"runs left unfinished: {left}")

        # One job per manifest at a time; later drops join the next run.
        if record.most_waiting > 1 or record.most_running > 1:
            problems.append(
                f"one manifest had {record.most_waiting} process runs waiting and "
                f"{record.most_running} running at once"
            )

        # No duplicate assets or crops.
        dup_files = list(
            Asset.select(Asset.file_path, fn.COUNT(Asset.id))
            .where(Asset.state != AssetState.REMOVED)
            .group_by(Asset.file_path)
            .having(fn.COUNT(Asset.id) > 1)
            .tuples()
        )
        if dup_files:
            problems.append(f"two live assets share a file: {dup_files}")
        dup_crops = list(
            Asset.select(Asset.source_asset, Asset.extraction_key, fn.COUNT(Asset.id))
            .where(Asset.source == Source.EXTRACTED)
            .group_by(Asset.source_asset, Asset.extraction_key)
            .having(fn.COUNT(Asset.id) > 1)
            .tuples()
        )
        if dup_crops:
            problems.append(f"duplicate crops: {dup_crops}")
        expected_files = {f"{m}/{n}" for m, names in run.layout.items() for n in names}
        uploaded = {a.file_path: a for a in Asset.select().where(Asset.source == Source.UPLOADED)}
        if set(uploaded) != expected_files:
            problems.append(f"uploaded assets {sorted(uploaded)} != files {sorted(expected_files)}")

        # The bad file is an error asset with a reason; nothing else is lost.
        for path in expected_files & BAD_FILES:
            bad = uploaded.get(path)
            if bad is None or bad.state != AssetState.ERROR or not bad.error:
                problems.append(f"{path} is not an error asset with a reason")

        # A tag once given never changes unless a person asks (here: a person's type change,
        # which gives the next number of the new type), and no two assets of a manifest share
        # one; a late drop that sorts first takes new numbers.
        run.sample_tags()
        retyped: dict[int, int] = {}
        for asset_id, name, _ in record.edits:
            if name == "asset_type":
                retyped[asset_id] = retyped.get(asset_id, 0) + 1
        for asset_id, seen in record.tags_seen.items():
            if len(seen) - 1 > retyped.get(asset_id, 0):
                problems.append(
                    f"the tag of asset {asset_id} changed by itself: {' -> '.join(seen)}"
                )
        shared = list(
            Asset.select(Asset.manifest, Asset.manifest_tag, fn.COUNT(Asset.id))
            .where(Asset.manifest_tag.is_null(False))
            .group_by(Asset.manifest, Asset.manifest_tag)
            .having(fn.COUNT(Asset.id) > 1)
            .tuples()
        )
        if shared:
            problems.append(f"tags naming several assets of one manifest: {shared}")
        for path in record.sorted_first:
            first = uploaded.get(path)
            if first is not None and first.state != AssetState.ERROR and not first.manifest_tag:
                problems.append(f"{path} (dropped late, sorting first) has no tag")

        # The person's last edit of each field is its value.
        last: dict[tuple[int, str], str] = {}
        for asset_id, name, value in record.edits:
            last[(asset_id, name)] = value
        for (asset_id, name), value in last.items():
            actual = getattr(Asset.get_by_id(asset_id), name)
            if str(actual) != value:
                problems.append(
                    f"asset {asset_id} {name} is {actual!r}, the person wrote {value!r}"
                )

        # Every good asset ends with the AI answer or the person's edit.
        online = run.server is not None
        good = list(
            Asset.select().where(Asset.state.not_in([AssetState.ERROR, AssetState.REMOVED]))
        )
        for asset in good:
            if asset.state != AssetState.PROCESSED:
                problems.append(f"asset {asset.id} {asset.file_path} is {asset.state}")
            if (asset.stage_errors or {}).get("prompts"):
                problems.append(f"asset {asset.id} prompt error: {asset.stage_errors['prompts']}")
            for name in PROMPT_FIELDS:
                value = getattr(asset, name)
                if (asset.id, name) in last:
                    continue
                if not value:
                    problems.append(f"asset {asset.id} {asset.file_path} has no {name}")
            if (asset.id, "reverse_prompt") not in last:
                wanted = scenario.backend if online else "offline"
                if asset.prompt_origin != wanted:
                    problems.append(
                        f"asset {asset.id} prompt is {asset.prompt_origin}, not {wanted}"
                    )
                elif online and "studio reference photo" not in (asset.reverse_prompt or ""):
                    problems.append(
                        f"asset {asset.id} reverse_prompt is not the AI answer: "
                        f"{asset.reverse_prompt!r}"
                    )

        # Answered requests <= distinct images (+ a reprocess's fresh look + what kills lost).
        figures = {
            "assets": len(good),
            "crops": sum(a.source == Source.EXTRACTED for a in good),
            "tags": sum(bool(seen) for seen in record.tags_seen.values()),
            "faces": sum(bool(a.is_face_crop) for a in good),
            "edits": "/".join(name for _, name, _ in record.edits) or 0,
            "kills": len(record.kills),
        }
        if online:
            answered = run.server.stats()["outcomes"].get("ok", 0)
            # A character's description is a request (and a cache row) of its own, besides the
            # images' prompts.
            described = PromptCache.select().where(PromptCache.key.startswith("character:")).count()
            rows = PromptCache.select().count() - described
            distinct = len(
                {a.content_hash for a in Asset.select().where(Asset.state != AssetState.ERROR)}
            )
            lost = 0
            for kill in record.kills:
                lost = max(lost, kill["answered"] - kill["cache_rows"])
            allowance = distinct + described + len(record.reprocessed) + lost
            figures.update(
                answered=answered,
                distinct_images=distinct,
                characters=described,
                lost_in_kills=lost,
            )
            if rows > distinct:
                problems.append(f"{rows} cached answers for {distinct} distinct images")
            if answered > allowance:
                problems.append(
                    f"{answered} answered requests for {distinct} distinct images, "
                    f"{len(record.reprocessed)} reprocessed, {lost} lost in kills"
                )
            for kill in record.kills:
                in_flight = kill["answered"] - kill["cache_rows"]
                if in_flight > 2 * int(run.settings["prompt_concurrency"]) + len(
                    record.reprocessed
                ):
                    problems.append(f"a kill lost {in_flight} answers, more than were in flight")
    summary = (
        f"SCENARIO {scenario.name}: "
        + ", ".join(f"{k} {v}" for k, v in figures.items())
        + (f"; notes: {'; '.join(record.notes)}" if record.notes else "")
    )
    print(summary, flush=True)
    assert not problems, f"{scenario.name} broke {len(problems)} invariant(s):\n" + "\n".join(
        problems[:20]
    )
    return figures
