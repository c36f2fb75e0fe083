"""A local stand-in for the Gemini ``generateContent`` REST endpoint.

The real ``google-genai`` SDK talks to it unchanged (``HttpOptions(base_url=server.base_url)``):
only the remote service is replaced. It answers ``POST /{version}/models/{model}:generateContent``
in the REST shape the SDK parses, and can misbehave on demand: latency, 429 with ``Retry-After``,
500, 503, hanging requests, a body that is not JSON, an answer that is not valid JSON,
safety-blocked candidates, a prompt blocked outright, empty answers. It counts requests, peak
concurrency and the most requests that arrived within any 60 s (what a per-minute quota counts).

It bills as Gemini documents (:mod:`vidpipe.prompting.tokens`): image tokens by the tile rule
(or ``mediaResolution``), text at four characters a token, and ``thinking_tokens`` per request
unless the request's ``thinkingConfig.thinkingBudget`` is 0 (Gemini 2.5 thinks by default). Every
answer carries the ``usageMetadata`` it was billed; ``billed`` sums them.

``GET /_fake/stats`` returns the counters as JSON, and ``python -m support.fake_gemini``
runs the server in a process of its own (it prints its base URL, serves until stdin closes), so a
benchmark's client does not share its interpreter lock with the server.

Misbehaviour is chosen per request, first by ``rules`` (a substring of the request's prompt text,
e.g. an asset name, mapped to a behaviour, optionally for the first N matches only), then by the
``*_fraction`` knobs drawn from a seeded random generator.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from vidpipe.prompting.tokens import image_tokens, text_tokens
from support.fake_batches import BATCH_PATH, CREATE_PATH, LIST_PATH, BatchStore

OK = "ok"
RATE_LIMIT = "rate_limit"  # 429 RESOURCE_EXHAUSTED with Retry-After
SERVER_ERROR = "server_error"  # 500 INTERNAL
UNAVAILABLE = "unavailable"  # 503 UNAVAILABLE (overloaded), the 5xx Gemini sends most
HANG = "hang"  # no answer until hang_s passes or the server stops
BAD_BODY = "bad_body"  # HTTP 200 whose body is not JSON
MALFORMED = "malformed"  # a candidate whose text is not valid JSON
BLOCKED = "blocked"  # candidate finishReason SAFETY, no content
PROMPT_BLOCKED = "prompt_blocked"  # promptFeedback.blockReason SAFETY, no candidates
EMPTY = "empty"  # a candidate with empty text
REDIRECT = "redirect"  # 307 to redirect_to + the same path (a client must not follow it)
ENDLESS = "endless"  # 200 and a body that never ends (until the client hangs up)
BEHAVIOURS = (
    OK,
    RATE_LIMIT,
    SERVER_ERROR,
    UNAVAILABLE,
    HANG,
    BAD_BODY,
    MALFORMED,
    BLOCKED,
    PROMPT_BLOCKED,
    EMPTY,
    REDIRECT,
    ENDLESS,
)

_PATH = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):generateContent$")
_TAG = re.compile(r"\b(?:CHAR|OBJ|ENV|STYLE|REF)_\d+\b")
_HANDLE = re.compile(r"\bcharacter ([A-Z][A-Z0-9_]*)\b")


def most_within(times: list[float], window_s: float) -> int:
    """The most of ``times`` (seconds, in arrival order) lying within any ``window_s`` window:
    what a requests-per-minute quota counts."""
    most, first = 0, 0
    for last, now in enumerate(times):
        while now - times[first] >= window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


@dataclass
class Rule:
    """Requests whose prompt text contains ``match`` get ``behaviour`` (the first ``times`` only,
    when given)."""

    match: str
    behaviour: str
    times: int | None = None
    used: int = 0


@dataclass
class SeenRequest:
    model: str
    prompt_text: str
    image_sha256: str | None
    image_mime: str | None
    image_bytes: bytes | None
    generation_config: dict
    had_api_key: bool
    behaviour: str
    image_size: tuple[int, int] | None = None
    usage: dict | None = None  # the usageMetadata billed for it, if any
    image_count: int = 0  # images in the request (image_* describe the last one)

    def thinking_budget(self) -> int | None:
        """The request's thinkingBudget; None when it sent none (the model's default)."""
        config = self.generation_config.get("thinkingConfig") or {}
        budget = config.get("thinkingBudget", config.get("thinking_budget"))
        return None if budget is None else int(budget)


class _QuietServer(ThreadingHTTPServer):
    """A client killed mid-request (the kill -9 tests) resets its connection; that is the
    client's business, not a traceback on the test's output."""

    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (a
    # manifest's requests sent together), which the client's kernel resends only after a second:
    # a delay no real endpoint adds.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class FakeGemini:
    """Start with ``with FakeGemini(latency_s=0.3) as server:``; point the SDK at ``base_url``."""

    latency_s: float = 0.0
    rate_limit_fraction: float = 0.0
    retry_after_s: float | None = 0.0  # the Retry-After header on 429s; None sends none
    server_error_fraction: float = 0.0
    unavailable_fraction: float = 0.0
    hang_fraction: float = 0.0
    hang_s: float = 30.0
    bad_body_fraction: float = 0.0
    malformed_fraction: float = 0.0
    blocked_fraction: float = 0.0
    empty_fraction: float = 0.0
    rules: list[Rule] = field(default_factory=list)
    # At most this many misbehaviours (from the fractions) per distinct image; then it answers.
    # A scenario can then demand that every asset ends with an answer, whatever the seed.
    max_faults_per_image: int | None = None
    expected_api_key: str | None = None  # when set, other keys get 400 API_KEY_INVALID
    seed: int = 0
    answer: Callable[[SeenRequest], dict] | None = None  # override the generated answer
    thinking_tokens: int = 800  # billed per request when thinking is on (an assumed figure)
    batch_hold: bool = False  # batch jobs stay RUNNING until release_batches()
    redirect_to: str = "http://127.0.0.1:9"  # where REDIRECT points (another server's base_url)
    # Replaces the whole OK response: (HTTP status, body as dict or raw bytes, headers).
    raw_answer: Callable[[SeenRequest], tuple[int, dict | bytes, dict]] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._random = random.Random(self.seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0
        self.in_flight = 0
        self.peak_concurrency = 0
        self.arrivals: list[float] = []  # time.monotonic() of each request's arrival
        self.outcomes: Counter[str] = Counter()
        self.seen: list[SeenRequest] = []
        self.billed: Counter[str] = Counter()  # responses, prompt, candidates, thoughts
        self.batches = BatchStore(self, self._batch_request)
        self._faults: Counter[str | None] = Counter()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeGemini":
        handler = _handler_for(self)
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-gemini",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeGemini":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stats(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "peak_concurrency": self.peak_concurrency,
                "peak_per_minute": most_within(self.arrivals, 60.0),
                "in_flight": self.in_flight,
                "outcomes": dict(self.outcomes),
                "billed": dict(self.billed),
                "batches": self.batches.stats(),
            }

    def release_batches(self) -> None:
        """Let held batch jobs finish at their next look."""
        with self._lock:
            self.batch_hold = False

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0
            self.peak_concurrency = 0
            self.arrivals.clear()
            self.outcomes.clear()
            self.seen.clear()
            self.billed.clear()
            self.batches.submissions = self.batches.cancels = self.batches.looks = 0

    def bill(self, seen: SeenRequest, answer_text: str | None, batch: bool = False) -> dict:
        """The usageMetadata of a response to ``seen``: what it costs, added to ``billed``.
        ``answer_text`` None: the prompt was refused before any answer (input billed only)."""
        resolution = str(seen.generation_config.get("mediaResolution") or "")
        image = image_tokens(*seen.image_size, resolution) if seen.image_size else 0
        # The response schema is part of what the model reads, and billed with the prompt.
        schema = seen.generation_config.get("responseSchema")
        text = text_tokens(seen.prompt_text) + (text_tokens(json.dumps(schema)) if schema else 0)
        budget = seen.thinking_budget()
        thoughts = 0
        if answer_text is not None and budget != 0:
            thoughts = (
                self.thinking_tokens
                if budget is None or budget < 0
                else min(budget, self.thinking_tokens)
            )
        candidates = text_tokens(answer_text or "")
        usage = {
            "promptTokenCount": image + text,
            "candidatesTokenCount": candidates,
            "totalTokenCount": image + text + candidates + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": text}]
            + ([{"modality": "IMAGE", "tokenCount": image}] if image else []),
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        with self._lock:
            self.billed.update(
                responses=1,
                prompt=image + text,
                candidates=candidates,
                thoughts=thoughts,
                batch_responses=int(batch),
            )
        seen.usage = usage
        return usage

    # -- request handling ----------------------------------------------------------------------
    def _batch_request(self, body: dict, model: str, had_key: bool) -> "SeenRequest":
        """One request inside a batch job, its behaviour chosen as for a direct one."""
        seen = _parse_request(body, model, had_key)
        seen.behaviour = self._choose(seen.prompt_text)
        if seen.behaviour == HANG:
            seen.behaviour = OK  # nothing hangs inside a batch
        return seen

    def _choose(self, prompt_text: str, image_sha256: str | None = None) -> str:
        with self._lock:
            for rule in self.rules:
                if rule.match in prompt_text and (rule.times is None or rule.used < rule.times):
                    rule.used += 1
                    return rule.behaviour
            draw = self._random.random()
            if (
                self.max_faults_per_image is not None
                and self._faults[image_sha256] >= self.max_faults_per_image
            ):
                return OK
            for behaviour, fraction in (
                (RATE_LIMIT, self.rate_limit_fraction),
                (SERVER_ERROR, self.server_error_fraction),
                (UNAVAILABLE, self.unavailable_fraction),
                (HANG, self.hang_fraction),
                (BAD_BODY, self.bad_body_fraction),
                (MALFORMED, self.malformed_fraction),
                (BLOCKED, self.blocked_fraction),
                (EMPTY, self.empty_fraction),
            ):
                if draw < fraction:
                    self._faults[image_sha256] += 1
                    return behaviour
                draw -= fraction
            return OK

    def _enter(self) -> None:
        with self._lock:
            self.requests += 1
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self.outcomes[seen.behaviour] += 1
            self.seen.append(seen)

    def respond(self, seen: SeenRequest, batch: bool = False) -> tuple[int, dict | bytes, dict]:
        """(HTTP status, body, headers) answering ``seen`` as its behaviour says (not HANG)."""
        model, behaviour = seen.model, seen.behaviour
        if behaviour == RATE_LIMIT:
            headers = {}
            if self.retry_after_s is not None:
                headers["Retry-After"] = f"{self.retry_after_s:g}"
            return (
                429,
                _error(
                    429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
                ),
                headers,
            )
        if behaviour == SERVER_ERROR:
            return 500, _error(500, "INTERNAL", "Internal error encountered."), {}
        if behaviour == UNAVAILABLE:
            return (
                503,
                _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
                {},
            )
        if behaviour == BAD_BODY:
            return 200, b'{"candidates": [{"content": {"parts": [{"te', {}
        if behaviour == PROMPT_BLOCKED:
            return (
                200,
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": [
                            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                        ],
                    },
                    "usageMetadata": self.bill(seen, None, batch),
                    "modelVersion": model,
                },
                {},
            )
        if behaviour == BLOCKED:
            return (
                200,
                {
                    "candidates": [
                        {
                            "finishReason": "SAFETY",
                            "index": 0,
                            "safetyRatings": [
                                {
                                    "category": "HARM_CATEGORY_HARASSMENT",
                                    "probability": "HIGH",
                                    "blocked": True,
                                }
                            ],
                        }
                    ],
                    "usageMetadata": self.bill(seen, "", batch),
                    "modelVersion": model,
                },
                {},
            )
        if behaviour == MALFORMED:
            text = '{"reverse_prompt": "a red square, studio light", "visual_descr'
        elif behaviour == EMPTY:
            text = ""
        else:
            text = json.dumps((self.answer or self.default_answer)(seen))
        return (
            200,
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": text}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": self.bill(seen, text, batch),
                "modelVersion": model,
                "responseId": hashlib.sha1(text.encode()).hexdigest()[:16],
            },
            {},
        )

    def default_answer(self, seen: SeenRequest) -> dict:
        """A schema-valid answer that names the image (by hash) and the tag the prompt gave;
        a character description (the schema asks for ``description``) names the handle and
        how many images it saw."""
        schema = seen.generation_config.get("responseSchema") or {}
        if "description" in (schema.get("properties") or {}):
            handle = (_HANDLE.findall(seen.prompt_text) or ["the person"])[0]
            return {
                "description": f"{handle}: the same person in all {seen.image_count} "
                "images; short dark hair, oval face, slim build."
            }
        tags = _TAG.findall(seen.prompt_text)
        subject = tags[0] if tags else "the subject"
        short = (seen.image_sha256 or "noimage")[:8]
        return {
            "reverse_prompt": f"{subject}, studio reference photo, image {short}, soft light",
            "visual_description": f"A reference image ({short}) showing {subject} in even light.",
            "quality_score": 7.5,
        }


def _parse_request(body: dict, model: str, had_key: bool) -> SeenRequest:
    texts: list[str] = []
    image_sha = mime = data = None
    images = 0
    for content in body.get("contents") or []:
        for part in content.get("parts") or []:
            if "text" in part:
                texts.append(part["text"])
            inline = part.get("inlineData") or part.get("inline_data")
            if inline:
                # The SDK sends URL-safe base64; Google accepts both alphabets.
                text = inline.get("data", "").replace("-", "+").replace("_", "/")
                data = base64.b64decode(text + "=" * (-len(text) % 4))
                image_sha = hashlib.sha256(data).hexdigest()
                mime = inline.get("mimeType") or inline.get("mime_type")
                images += 1
    config = body.get("generationConfig") or body.get("generation_config") or {}
    return SeenRequest(
        model=model,
        prompt_text="\n".join(texts),
        image_sha256=image_sha,
        image_mime=mime,
        image_bytes=data,
        generation_config=config,
        had_api_key=had_key,
        behaviour=OK,
        image_size=_image_size(data),
        image_count=images,
    )


def _image_size(data: bytes | None) -> tuple[int, int] | None:
    if not data:
        return None
    from PIL import UnidentifiedImageError

    from vidpipe.imaging import pillow_open  # not the wrapper ultralytics puts in Image.open

    try:
        with pillow_open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return None  # not an image: billed as text only


def _error(code: int, status: str, message: str, details: list | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _handler_for(server: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the client's delayed ACK would
        # add ~40 ms to every answer, which the real service does not.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict | bytes, headers: dict | None = None) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout); nothing to tell it

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            batch = BATCH_PATH.match(path)
            if self.path == "/_fake/stats":
                self._send(200, server.stats())
            elif batch and not batch.group("cancel"):
                operation = server.batches.get(batch.group("id"))
                if operation is None:
                    self._send(404, _error(404, "NOT_FOUND", f"no batch {batch.group('id')}"))
                else:
                    self._send(200, operation)
            elif LIST_PATH.match(path):
                self._send(200, server.batches.list())
            else:
                self._send(404, _error(404, "NOT_FOUND", f"no such path: {self.path}"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if self._batch_call(path, raw):
                return
            match = _PATH.match(path)
            if not match:
                self._send(404, _error(404, "NOT_FOUND", f"no such method: {self.path}"))
                return
            server._enter()
            try:
                self._answer(match.group("model"), raw)
            finally:
                server._leave()

        def _batch_call(self, path: str, raw: bytes) -> bool:
            create, batch = CREATE_PATH.match(path), BATCH_PATH.match(path)
            if create:
                try:
                    body = json.loads(raw or b"{}")
                except ValueError as exc:
                    self._send(400, _error(400, "INVALID_ARGUMENT", f"bad request body: {exc}"))
                    return True
                self._send(
                    200,
                    server.batches.create(
                        create.group("model"), body, bool(self.headers.get("x-goog-api-key"))
                    ),
                )
                return True
            if batch and batch.group("cancel"):
                if server.batches.cancel(batch.group("id")):
                    self._send(200, {})
                else:
                    self._send(404, _error(404, "NOT_FOUND", f"no batch {batch.group('id')}"))
                return True
            return False

        def _answer(self, model: str, raw: bytes) -> None:
            key = self.headers.get("x-goog-api-key")
            try:
                seen = _parse_request(json.loads(raw or b"{}"), model, bool(key))
            except (ValueError, TypeError) as exc:
                self._send(400, _error(400, "INVALID_ARGUMENT", f"bad request body: {exc}"))
                return
            if server.expected_api_key is not None and key != server.expected_api_key:
                seen.behaviour = "bad_key"
                server._record(seen)
                self._send(
                    400,
                    _error(
                        400,
                        "INVALID_ARGUMENT",
                        "API key not valid. Please pass a valid API key.",
                        [
                            {
                                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "API_KEY_INVALID",
                            }
                        ],
                    ),
                )
                return
            behaviour = seen.behaviour = server._choose(seen.prompt_text, seen.image_sha256)
            server._record(seen)
            if behaviour == HANG:
                server._stopping.wait(server.hang_s)
                return  # the client has timed out by now; the connection just closes
            if server.latency_s > 0 and server._stopping.wait(server.latency_s):
                return
            if behaviour == REDIRECT:
                self._send(307, b"", {"Location": server.redirect_to + self.path})
                return
            if behaviour == ENDLESS:
                self._send_endless()
                return
            if behaviour == OK and server.raw_answer is not None:
                self._send(*server.raw_answer(seen))
                return
            self._send(*server.respond(seen))

        def _send_endless(self) -> None:
            self.close_connection = True
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Connection", "close")  # no length: the body ends never
                self.end_headers()
                self.wfile.write(b'{"candidates": [{"content": {"parts": [{"text": "')
                chunk = b"A" * 65536
                while not server._stopping.is_set():
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what it should do

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake Gemini server until stdin closes.")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit-fraction", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=0.0)
    parser.add_argument("--server-error-fraction", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = FakeGemini(
        latency_s=args.latency,
        rate_limit_fraction=args.rate_limit_fraction,
        retry_after_s=args.retry_after,
        server_error_fraction=args.server_error_fraction,
        seed=args.seed,
    ).start()
    print(server.base_url, flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
