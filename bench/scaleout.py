"""Reverse-prompting throughput with 1 and 2 worker processes sharing one project and one API key.

    .venv/bin/python bench/scaleout.py [--manifests 8] [--assets 4] [--latency 1.0]

A throwaway PostgreSQL cluster holds the project, a throwaway redis-server the shared Gemini
limits (vidpipe.testing.servers); the fake Gemini server answers each request after
``latency`` s, in a process of its own. Each worker process is what a daemon's pipeline worker
does for the prompts stage: it takes the next manifest from a shared list and runs the real
PromptStage over it (real SDK, real limiter, results written to PostgreSQL). The prompt cache
is emptied before each case, so every asset costs one request.

  1. one worker, shared limit 16 in flight (not binding): the baseline;
  2. two workers, shared limit 16 (not binding): about 2x the baseline;
  3. two workers, shared limit 4 (binding): the server never sees more than 4 in flight.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from prompts import FakeServerProcess  # noqa: E402  (bench/prompts.py)
from vidpipe.testing.servers import PostgresServer, RedisServer  # noqa: E402

QUEUE_KEY = "bench:scaleout:manifests"


def worker(root: Path, go: Path, concurrency: int, base_url: str) -> int:
    """Take manifests from the shared list until it is empty; print how many assets."""
    import redis

    from google import genai  # noqa: F401 - import before "ready": workers start together
    from vidpipe.engine import ManifestingEngine
    from vidpipe.session import open_project
    from vidpipe.stages.prompts import PromptStage

    session = open_project(root)
    settings = session.settings.replace(gemini_api_key="bench-key", gemini_base_url=base_url,
                                        prompt_concurrency=concurrency)
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
    from vidpipe.ingest import reconcile
    from vidpipe.models import Manifest
    from vidpipe.session import open_project

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
                    rng.randrange(256) for _ in range(3))
            image.save(folder / f"ref_{a}.jpg", quality=90)
    reconcile(session.project, session.settings)
    ids = [m.id for m in Manifest.select().order_by(Manifest.name)]
    session.close()
    return ids


def run_case(root: Path, manifest_ids: list[int], workers: int, limit: int, latency: float,
             redis_url: str) -> tuple[float, dict]:
    import redis

    from vidpipe.database import open_database
    from vidpipe.models import PromptCache

    database = open_database(os.environ["VIDPIPE_DATABASE_URL"])
    PromptCache.delete().execute()
    database.close()
    queue = redis.Redis.from_url(redis_url)
    queue.delete(QUEUE_KEY)
    queue.rpush(QUEUE_KEY, *manifest_ids)
    with FakeServerProcess(latency=latency, seed=1) as server, \
            tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        processes = [subprocess.Popen(
            [sys.executable, __file__, "--worker", str(root), "--go", str(go),
             "--concurrency", str(limit), "--base-url", server.base_url],
            stdout=subprocess.PIPE, text=True) for _ in range(workers)]
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
    parser.add_argument("--assets", type=int, default=4, help="per manifest")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.go, args.concurrency, args.base_url)

    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    try:
        os.environ["VIDPIPE_DATABASE_URL"] = postgres.create_database("bench")
        os.environ["VIDPIPE_QUEUE_URL"] = redis_server.url()
        with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
            root = Path(tmp) / "project"
            ids = make_project(root, args.manifests, args.assets)
            total = len(ids) * args.assets
            print(f"{len(ids)} manifests x {args.assets} assets = {total} requests, "
                  f"endpoint latency {args.latency:g} s")
            results = {}
            for name, workers, limit in (("1 worker, shared limit 16", 1, 16),
                                         ("2 workers, shared limit 16", 2, 16),
                                         ("2 workers, shared limit 4", 2, 4)):
                wall, stats = run_case(root, ids, workers, limit, args.latency,
                                       redis_server.url())
                results[name] = (wall, stats)
                print(f"  {name}: wall {wall:.2f} s, {total / wall:.2f} assets/s, "
                      f"requests {stats['requests']}, peak in flight "
                      f"{stats['peak_concurrency']} (limit {limit})")
        base = results["1 worker, shared limit 16"][0]
        two = results["2 workers, shared limit 16"][0]
        bound_wall, bound = results["2 workers, shared limit 4"]
        print(f"speed-up of 2 workers, limit not binding: {base / two:.2f}x")
        print(f"2 workers, limit 4 binding: peak {bound['peak_concurrency']} "
              f"({'never above the limit' if bound['peak_concurrency'] <= 4 else 'ABOVE THE LIMIT'})"
              f", {base / bound_wall:.2f}x the baseline")
        return 0 if bound["peak_concurrency"] <= 4 else 1
    finally:
        postgres.stop()
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
