"""Reverse-prompting throughput with 1 and 2 worker processes sharing one project and one API key.

    .venv/bin/python bench/scaleout.py [--manifests 8] [--assets 24] [--latency 1.0] [--no-rpm]

A throwaway PostgreSQL cluster holds the project, a throwaway redis-server the shared Gemini
limits (support.servers); the fake Gemini server answers each request after
``latency`` s, in a process of its own, and counts the requests in flight and the most that
arrived within any 60 s. Each worker process is what a daemon's pipeline worker does for the
prompts stage: it takes the next manifest from a shared list and runs the real PromptStage over
it (real SDK, real limiter, results written to PostgreSQL). The prompt cache is emptied before
each case, so every asset costs one request.

A daemon works on one manifest at a time and sends a manifest's requests together, up to the
limit. So with manifests of 24 assets and a limit of 64, one worker has at most 24 in flight and
two at most 48: the limit is not binding, and each worker waits on Gemini for most of a manifest.

  1. one worker, limit 64 in flight: the baseline;
  2. two workers, limit 64 (not binding): about 2x the baseline;
  3. two workers, limit 16 in flight (binding): never more than 16 at the server;
  4. two workers, limit 30 requests a minute (binding), two manifests: never more than 30
     arriving within any 60 s at the server (the case takes a little over a minute).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # tests/ for support (the fake servers)

from PIL import Image  # noqa: E402

from prompts import FakeServerProcess  # noqa: E402  (bench/prompts.py)
from support.servers import PostgresServer, RedisServer  # noqa: E402

QUEUE_KEY = "bench:scaleout:manifests"


def worker(root: Path, go: Path, concurrency: int, per_minute: int, base_url: str) -> int:
    """Take manifests from the shared list until it is empty; print how many assets."""
    import redis

    from google import genai  # noqa: F401 - import before "ready": workers start together
    from vidpipe.pipeline.engine import ManifestingEngine
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.stages.prompts import PromptStage

    session = open_project(root)
    settings = session.settings.replace(
        gemini_api_key="bench-key",
        gemini_base_url=base_url,
        prompt_concurrency=concurrency,
        prompt_requests_per_minute=per_minute,
    )
    engine = ManifestingEngine(session.project, settings, stages=[PromptStage()])
    queue = redis.Redis.from_url(settings.queue_url)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    manifests = 0
    while (manifest_id := queue.lpop(QUEUE_KEY)) is not None:
        engine.process_manifest(int(manifest_id), "all")
        manifests += 1
    print(f"manifests {manifests}", flush=True)
    session.close()
    return 0


def make_project(root: Path, manifests: int, assets: int) -> list[int]:
    from vidpipe.pipeline.ingest import reconcile
    from vidpipe.store.models import Manifest
    from vidpipe.store.session import open_project

    session = open_project(root, create=True)
    for m in range(manifests):
        folder = root / f"set{m:02d}"
        folder.mkdir()
        for a in range(assets):
            rng = random.Random(m * 1000 + a)
            image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
            pixels = image.load()
            for _ in range(300):
                pixels[rng.randrange(320), rng.randrange(240)] = tuple(
                    rng.randrange(256) for _ in range(3)
                )
            image.save(folder / f"ref_{a}.jpg", quality=90)
    reconcile(session.project, session.settings)
    ids = [m.id for m in Manifest.select().order_by(Manifest.name)]
    session.close()
    return ids


@dataclass(frozen=True)
class Case:
    name: str
    workers: int
    concurrency: int  # the shared limit of requests in flight
    per_minute: int  # the shared limit of requests started within 60 s
    manifests: int | None = None  # the first N manifests only; None: all


#: Requests a minute when that limit is not the one measured: more than any case sends.
UNBOUND_PER_MINUTE = 100_000


def cases(no_rpm: bool) -> list[Case]:
    chosen = [
        Case("1 worker, limit 64", 1, 64, UNBOUND_PER_MINUTE),
        Case("2 workers, limit 64 (not binding)", 2, 64, UNBOUND_PER_MINUTE),
        Case("2 workers, limit 16 in flight (binding)", 2, 16, UNBOUND_PER_MINUTE),
    ]
    if not no_rpm:
        chosen.append(Case("2 workers, limit 30 a minute (binding)", 2, 64, 30, manifests=2))
    return chosen


def run_case(
    root: Path, manifest_ids: list[int], case: Case, latency: float, redis_url: str
) -> tuple[float, dict]:
    import redis

    from vidpipe.store.database import open_database
    from vidpipe.store.models import PromptCache

    database = open_database(os.environ["VIDPIPE_DATABASE_URL"])
    PromptCache.delete().execute()
    database.close()
    queue = redis.Redis.from_url(redis_url)
    queue.delete(QUEUE_KEY)
    queue.rpush(QUEUE_KEY, *manifest_ids)
    for key in queue.scan_iter("vidpipe:gemini:*"):  # no window left over from the last case
        queue.delete(key)
    with FakeServerProcess(latency=latency, seed=1) as server, tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    str(root),
                    "--go",
                    str(go),
                    "--concurrency",
                    str(case.concurrency),
                    "--per-minute",
                    str(case.per_minute),
                    "--base-url",
                    server.base_url,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(case.workers)
        ]
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        go.touch()
        for process in processes:
            process.communicate(timeout=600)
            assert process.returncode == 0
        wall = time.perf_counter() - started
        return wall, server.stats()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=8)
    parser.add_argument("--assets", type=int, default=24, help="per manifest")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument(
        "--no-rpm",
        action="store_true",
        help="skip the requests-per-minute case (it takes over a minute)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument(
        "--per-minute", type=int, default=UNBOUND_PER_MINUTE, help=argparse.SUPPRESS
    )
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.go, args.concurrency, args.per_minute, args.base_url)

    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    held = True
    try:
        os.environ["VIDPIPE_DATABASE_URL"] = postgres.create_database("bench")
        os.environ["VIDPIPE_QUEUE_URL"] = redis_server.url()
        with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
            root = Path(tmp) / "project"
            ids = make_project(root, args.manifests, args.assets)
            print(
                f"{len(ids)} manifests x {args.assets} assets, endpoint latency "
                f"{args.latency:g} s, {os.cpu_count()} CPUs, load average "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
            walls = {}
            for case in cases(args.no_rpm):
                chosen = ids[: case.manifests] if case.manifests else ids
                requests = len(chosen) * args.assets
                wall, stats = run_case(root, chosen, case, args.latency, redis_server.url())
                walls[case.name] = wall
                within = (
                    stats["peak_concurrency"] <= case.concurrency
                    and stats["peak_per_minute"] <= case.per_minute
                )
                held = held and within and stats["requests"] == requests
                limits = f"limit {case.concurrency} in flight" + (
                    f", {case.per_minute}/min" if case.per_minute < UNBOUND_PER_MINUTE else ""
                )
                print(
                    f"  {case.name}: {requests} requests, wall {wall:.2f} s, "
                    f"{requests / wall:.2f} assets/s; at the server: {stats['requests']} "
                    f"requests, peak {stats['peak_concurrency']} in flight, most "
                    f"{stats['peak_per_minute']} within 60 s ({limits}: "
                    f"{'held' if within else 'EXCEEDED'}); load average "
                    f"{os.getloadavg()[0]:.2f}"
                )
        base = walls["1 worker, limit 64"]
        print(
            f"speed-up of 2 workers, limit not binding: "
            f"{base / walls['2 workers, limit 64 (not binding)']:.2f}x"
        )
        print(
            f"2 workers, limit 16 in flight binding: "
            f"{base / walls['2 workers, limit 16 in flight (binding)']:.2f}x the baseline"
        )
        print("every limit held at the server" if held else "A LIMIT WAS EXCEEDED")
        return 0 if held else 1
    finally:
        postgres.stop()
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
