"""Reverse-prompting throughput: the real stage and SDK against a fake server.

    .venv/bin/python bench/prompts.py [--assets 200] [--latency 0.3] [--concurrency 5]
                                      [--retry-after 1] [--backend gemini|openai]

``--backend openai`` runs the same scenarios through the openai SDK against the fake
OpenAI-compatible server (what a vLLM or Ollama server on the team's GPU looks like).

Two scenarios, each on a fresh project (empty cache) of distinct generated images:
  1. every request answers after ``latency`` s: wall time against the ideal
     assets / concurrency × latency (target: within 15 %);
  2. the same with 20 % of requests answered 429 with ``Retry-After: retry_after``
     (target: within 2× the ideal).
The wall time is the whole stage: image downscaling + JPEG encoding, requests, retries, writing
each result to SQLite. The fake server runs in a process of its own, as the real service would
not share this process's CPU or interpreter lock.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # tests/ for support (the fake servers)

from PIL import Image  # noqa: E402

from vidpipe.pipeline.engine import ManifestingEngine  # noqa: E402
from vidpipe.pipeline.ingest import reconcile  # noqa: E402
from vidpipe.store.models import Asset, Manifest, StageProgress  # noqa: E402
from vidpipe.store.session import open_project  # noqa: E402
from vidpipe.pipeline.stages.prompts import PromptStage  # noqa: E402
from support.fake_gemini import RATE_LIMIT  # noqa: E402
from support.fake_openai import DEFAULT_MODEL, FakeOpenAIProcess  # noqa: E402


class FakeServerProcess:
    """``python -m support.fake_gemini`` in a child process."""

    def __init__(self, **options):
        command = [sys.executable, "-m", "support.fake_gemini"]
        for name, value in options.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.base_url = self.process.stdout.readline().strip()

    def stats(self) -> dict:
        from urllib.request import urlopen

        with urlopen(f"{self.base_url}/_fake/stats", timeout=10) as response:
            return json.load(response)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def fake_server(
    backend: str, latency: float, rate_limit_fraction: float, retry_after: float
) -> tuple[FakeOpenAIProcess | FakeServerProcess, dict]:
    """The fake server of ``backend`` in a child process, and the settings that point at it."""
    server: FakeOpenAIProcess | FakeServerProcess
    if backend == "openai":
        server = FakeOpenAIProcess(
            latency_s=latency,
            fractions={RATE_LIMIT: rate_limit_fraction},
            retry_after_s=retry_after,
            seed=1,
        ).start()
        return server, dict(
            prompt_backend="openai", openai_base_url=server.base_url, openai_model=DEFAULT_MODEL
        )
    server = FakeServerProcess(
        latency=latency, rate_limit_fraction=rate_limit_fraction, retry_after=retry_after, seed=1
    )
    return server, dict(gemini_api_key="bench-key", gemini_base_url=server.base_url)


def make_images(folder: Path, count: int) -> None:
    for index in range(count):
        rng = random.Random(index)
        image = Image.new("RGB", (640, 480), tuple(rng.randrange(256) for _ in range(3)))
        pixels = image.load()
        for _ in range(500):  # distinct content per image
            xy = (rng.randrange(640), rng.randrange(480))
            pixels[xy] = tuple(rng.randrange(256) for _ in range(3))
        image.save(folder / f"ref_{index:04d}.jpg", quality=90)


def scenario(title: str, args, rate_limit_fraction: float, target_ratio: float) -> bool:
    ideal = args.assets / args.concurrency * args.latency
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
        session = open_project(Path(tmp) / "project", create=True)
        make_images(session.project.root, args.assets)
        reconcile(session.project, session.settings)
        server, endpoint = fake_server(
            args.backend, args.latency, rate_limit_fraction, args.retry_after
        )
        with server:
            settings = session.settings.replace(**endpoint, prompt_concurrency=args.concurrency)
            engine = ManifestingEngine(session.project, settings, stages=[PromptStage()])
            started = time.perf_counter()
            run = engine.process_manifest(Manifest.get(), "all")
            wall = time.perf_counter() - started
            done = Asset.select().where(Asset.prompt_origin == args.backend).count()
            row = StageProgress.get(StageProgress.run == run.id)
            stats = server.stats()
            ratio = wall / ideal
            ok = done == args.assets and ratio <= target_ratio
            print(f"{title}")
            print(
                f"  backend {args.backend}, assets {args.assets}, concurrency {args.concurrency}, latency "
                f"{args.latency:g} s, 429 fraction {rate_limit_fraction:.0%}"
                + (f" (Retry-After {args.retry_after:g} s)" if rate_limit_fraction else "")
            )
            print(
                f"  requests {stats['requests']} (429s {stats['outcomes'].get(RATE_LIMIT, 0)}), "
                f"peak in flight {stats['peak_concurrency']}, "
                f"assets done {done}/{args.assets}"
            )
            print(
                f"  wall {wall:.2f} s, ideal {ideal:.2f} s, ratio {ratio:.3f} "
                f"(target <= {target_ratio:g}) -> {'OK' if ok else 'MISSED'}"
            )
            print(f"  stage: {row.status}, {row.message}")
        session.close()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--backend", choices=("gemini", "openai"), default="gemini")
    args = parser.parse_args()
    # A once-per-process cost: the daemon pays it when its worker first prompts, not per manifest.
    started = time.perf_counter()
    if args.backend == "openai":
        import openai  # noqa: F401
    else:
        from google import genai  # noqa: F401
        from google.genai import types  # noqa: F401
    print(
        f"{args.backend} SDK import: {time.perf_counter() - started:.2f} s (once per process, "
        "before the timed runs)"
    )
    results = [scenario("1. plain", args, 0.0, 1.15), scenario("2. with 429s", args, 0.2, 2.0)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
