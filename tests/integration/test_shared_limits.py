"""Gemini limits across processes: two processes, one API key, one Redis server (real servers,
see conftest), the fake Gemini server counting requests in flight."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


from vidpipe.prompting.limiter import COUNTED_WINDOW_S
from vidpipe.prompting.shared_limiter import limit_keys
from support.fake_gemini import FakeGemini

WORKER = Path(__file__).resolve().parents[1] / "support" / "limit_worker.py"
REPO = Path(__file__).resolve().parents[2]


def run_two(tmp_path, env: dict, count: int) -> None:
    """Two worker processes released at the same moment; both must succeed."""
    go = tmp_path / "go"
    go.unlink(missing_ok=True)
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(count), str(go)],
            cwd=REPO,
            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    go.touch()
    for worker in workers:
        out, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0, out


def limits_env(gemini, **extra) -> dict:
    return {
        "GEMINI_API_KEY": "shared-key",
        "VIDPIPE_GEMINI_BASE_URL": gemini.base_url,
        "VIDPIPE_PROMPT_CONCURRENCY": "2",
        **extra,
    }


def test_concurrency_limit_holds_across_two_processes(tmp_path, redis_url):
    with FakeGemini(latency_s=0.5) as gemini:
        # Without the shared limit, each process keeps its own 2 in flight: more than 2 at the
        # server once they overlap (the control that shows the two do overlap).
        run_two(tmp_path, limits_env(gemini), 8)
        assert gemini.stats()["peak_concurrency"] > 2
        gemini.reset_counters()
        run_two(tmp_path, limits_env(gemini, VIDPIPE_QUEUE_URL=redis_url), 8)
        stats = gemini.stats()
        assert stats["requests"] == 16
        assert stats["peak_concurrency"] == 2


def test_requests_per_minute_hold_across_two_processes(tmp_path, redis_url):
    """The window already holds as many starts as the limit allows (from other processes),
    the oldest leaving it in a moment: no request of either process starts before it has."""
    import redis

    arrivals = []
    with FakeGemini() as gemini:
        gemini.answer = lambda seen: (arrivals.append(time.time()), gemini.default_answer(seen))[1]
        env = limits_env(
            gemini,
            VIDPIPE_QUEUE_URL=redis_url,
            VIDPIPE_PROMPT_REQUESTS_PER_MINUTE="4",
            VIDPIPE_PROMPT_CONCURRENCY="4",
        )
        client = redis.Redis.from_url(redis_url)
        seconds, micros = client.time()
        server_now = seconds + micros / 1e6
        _, starts = limit_keys("shared-key", "gemini-2.5-flash")
        # Four starts 58.5 s ago: the window (60 s and the counting margin) is full a while yet.
        client.zadd(starts, {f"earlier-{n}": server_now - 58.5 for n in range(4)})
        room_at = time.time() + COUNTED_WINDOW_S - 58.5
        run_two(tmp_path, env, 2)
        assert len(arrivals) == 4
        assert min(arrivals) >= room_at - 0.05, "a request started while the window was full"
        recorded = client.zrangebyscore(starts, server_now - 1, "+inf")
        assert len(recorded) == 4
