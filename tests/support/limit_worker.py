"""A process sending COUNT reverse-prompting requests through vidpipe's limiter (shared through
Redis when VIDPIPE_QUEUE_URL says so) and the real Gemini SDK, once the file GO exists."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path

from PIL import Image

from vidpipe.config.settings import load_settings
from vidpipe.prompting.gemini import GeminiClient
from vidpipe.prompting.shared_limiter import make_limiter


async def send(count: int) -> None:
    settings = load_settings(None)
    limiter = make_limiter(settings)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buffer, "JPEG")
    async with GeminiClient.for_settings(settings) as client:

        async def one() -> None:
            async with limiter.slot():
                await client.describe(buffer.getvalue(), "Describe [CHAR_01].")

        await asyncio.gather(*(one() for _ in range(count)))


def main() -> int:
    count, go = int(sys.argv[1]), Path(sys.argv[2])
    from google import genai  # noqa: F401 - imported before "ready", so both start together

    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)
    asyncio.run(send(count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
