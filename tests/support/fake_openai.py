"""A local stand-in for an OpenAI-compatible vision server (vLLM, Ollama, llama.cpp, LM Studio).

The real ``openai`` SDK talks to it unchanged (``base_url=server.base_url``). It serves
``GET /v1/models`` and ``POST /v1/chat/completions`` in the shapes the SDK parses, and misbehaves
on demand: latency, 429 with ``Retry-After``, 503, hanging requests, a body that is not JSON, an
answer whose content is not valid JSON, empty content, and servers that refuse ``response_format``
``json_schema`` (older vLLM / llama.cpp builds) or ``json_object`` too, with a 400. Every answer
carries ``usage`` (prompt tokens: text at four characters a token plus the image by Gemini's tile
rule, an assumed figure; completion tokens for the answer); ``billed`` sums them.

It runs in a process of its own (:class:`FakeOpenAIProcess`, or ``python -m
support.fake_openai``), so the client under test shares nothing with it but the socket.
Control endpoints: ``GET /_fake/stats``, ``GET /_fake/requests`` (every request as seen: model,
prompt text, ``response_format``, the image parts decoded, the ``Authorization`` header),
``POST /_fake/config`` (change the knobs below) and ``POST /_fake/reset`` (clear the counters).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vidpipe.prompting.tokens import image_tokens, text_tokens
from support.fake_gemini import _TAG, most_within

OK = "ok"
RATE_LIMIT = "rate_limit"  # 429 with Retry-After
UNAVAILABLE = "unavailable"  # 503 (vLLM while loading, Ollama while busy)
HANG = "hang"  # no answer until hang_s passes or the server stops
BAD_BODY = "bad_body"  # HTTP 200 whose body is not JSON
MALFORMED = "malformed"  # content that is not valid JSON for the schema
EMPTY = "empty"  # empty content
FAULTS = (RATE_LIMIT, UNAVAILABLE, HANG, BAD_BODY, MALFORMED, EMPTY)

DEFAULT_MODEL = "qwen2.5-vl-7b-instruct"


@dataclass
class Knobs:
    """How the server behaves; ``POST /_fake/config`` changes any of them."""

    models: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])
    latency_s: float = 0.0
    hang_s: float = 30.0
    retry_after_s: float | None = 0.0  # Retry-After on 429s; None sends none
    refuse_json_schema: bool = False  # 400 for response_format json_schema
    refuse_json_object: bool = False  # 400 for response_format json_object as well
    expected_api_key: str | None = None  # when set, other keys (or none) get 401
    # {"match": text in the prompt, "behaviour": one of FAULTS or OK, "times": N or null}
    rules: list[dict] = field(default_factory=list)
    fractions: dict[str, float] = field(default_factory=dict)  # behaviour -> share of requests
    max_faults_per_image: int | None = None  # then it answers, whatever the draw
    seed: int = 0


class FakeOpenAI:
    """The server itself (threads of one process); :class:`FakeOpenAIProcess` runs it apart."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._random = random.Random(self.knobs.seed)
            self._faults: Counter[str | None] = Counter()
            self.seen: list[dict] = []
            self.arrivals: list[float] = []
            self.in_flight = self.peak_concurrency = 0
            self.outcomes: Counter[str] = Counter()
            self.billed: Counter[str] = Counter()
            self.model_lists = 0

    def configure(self, changes: dict) -> None:
        known = {f.name for f in fields(Knobs)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        with self._lock:
            self.knobs = Knobs(**{**asdict(self.knobs), **changes})
            self._random = random.Random(self.knobs.seed)

    def start(self) -> "FakeOpenAI":
        from support.fake_gemini import _QuietServer

        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def stats(self) -> dict:
        with self._lock:
            return {
                "requests": len(self.arrivals),
                "peak_concurrency": self.peak_concurrency,
                "peak_per_minute": most_within(self.arrivals, 60.0),
                "outcomes": dict(self.outcomes),
                "billed": dict(self.billed),
                "model_lists": self.model_lists,
            }

    # -- one chat completion -------------------------------------------------------------------
    def choose(self, seen: dict) -> str:
        knobs = self.knobs
        with self._lock:
            for rule in knobs.rules:
                used = rule.setdefault("used", 0)
                if rule["match"] in seen["prompt_text"] and (
                    rule.get("times") is None or used < rule["times"]
                ):
                    rule["used"] = used + 1
                    return rule["behaviour"]
            image = seen["images"][0]["sha256"] if seen["images"] else None
            draw = self._random.random()
            if (
                knobs.max_faults_per_image is not None
                and self._faults[image] >= knobs.max_faults_per_image
            ):
                return OK
            for behaviour in FAULTS:
                share = knobs.fractions.get(behaviour, 0.0)
                if draw < share:
                    self._faults[image] += 1
                    return behaviour
                draw -= share
            return OK

    def refusal(self, response_format: dict | None) -> str | None:
        kind = (response_format or {}).get("type")
        if kind == "json_schema" and self.knobs.refuse_json_schema:
            return "response_format type json_schema is not supported by this server"
        if kind in ("json_schema", "json_object") and self.knobs.refuse_json_object:
            return f"response_format type {kind} is not supported by this server"
        return None

    def respond(self, seen: dict, behaviour: str) -> tuple[int, dict | bytes, dict]:
        if behaviour == RATE_LIMIT:
            retry = self.knobs.retry_after_s
            headers = {} if retry is None else {"Retry-After": f"{retry:g}"}
            return (
                429,
                _error("Rate limit reached; try again later.", "rate_limit_exceeded"),
                headers,
            )
        if behaviour == UNAVAILABLE:
            return 503, _error("The server is overloaded; try again later.", "overloaded"), {}
        if behaviour == BAD_BODY:
            return 200, b'{"id": "chatcmpl-1", "choices": [{"mess', {}
        if behaviour == MALFORMED:
            text = '{"reverse_prompt": "a red square, studio light", "visual_descr'
        elif behaviour == EMPTY:
            text = ""
        else:
            text = json.dumps(self.answer(seen))
            if (seen["response_format"] or {}).get("type") is None:
                text = f"Here is the JSON you asked for:\n```json\n{text}\n```"  # as chat models do
        prompt = text_tokens(seen["prompt_text"]) + sum(
            image_tokens(*image["size"]) for image in seen["images"] if image["size"]
        )
        completion = text_tokens(text)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        with self._lock:
            self.billed.update(responses=1, prompt=prompt, completion=completion)
        seen["usage"] = usage
        return (
            200,
            {
                "id": "chatcmpl-" + hashlib.sha1(text.encode()).hexdigest()[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": seen["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": usage,
            },
            {},
        )

    @staticmethod
    def answer(seen: dict) -> dict:
        """A schema-valid answer naming the image (by hash) and the tag the prompt gave; for
        another schema (``json_schema``'s), every property filled with such words."""
        tags = _TAG.findall(seen["prompt_text"])
        subject = tags[0] if tags else "the subject"
        short = seen["images"][0]["sha256"][:8] if seen["images"] else "noimage"
        schema = ((seen["response_format"] or {}).get("json_schema") or {}).get("schema") or {}
        properties = schema.get("properties") or {}
        if properties and set(properties) != {
            "reverse_prompt",
            "visual_description",
            "quality_score",
        }:
            count = len(seen["images"])
            return {
                name: 6.5
                if spec.get("type") == "number"
                else f"{subject}: {name} of {count} image(s) ({short})"
                for name, spec in properties.items()
            }
        return {
            "reverse_prompt": f"{subject}, studio reference photo, image {short}, soft light",
            "visual_description": f"A reference image ({short}) showing {subject}.",
            "quality_score": 6.5,
        }


def parse_chat_request(body: dict, authorization: str | None) -> dict:
    """What a chat-completions request asked: its text, its images (decoded), its format."""
    texts: list[str] = []
    images: list[dict] = []
    for message in body.get("messages") or []:
        content = message.get("content")
        parts: list[dict] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else content
        )
        for part in parts:
            if part.get("type") == "text":
                texts.append(part.get("text") or "")
            elif part.get("type") == "image_url":
                images.append(_image_part(part["image_url"]["url"]))
    return {
        "model": body.get("model"),
        "prompt_text": "\n".join(texts),
        "images": images,
        "response_format": body.get("response_format"),
        "authorization": authorization,
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
        "behaviour": OK,
        "usage": None,
    }


def _image_part(url: str) -> dict:
    head, _, data = url.partition(",")
    is_data_url = head.startswith("data:") and head.endswith(";base64")
    try:
        raw = base64.b64decode(data, validate=True) if is_data_url else b""
    except binascii.Error:
        raw = b""
    size = None
    if raw:
        from vidpipe.imaging import pillow_open

        with pillow_open(io.BytesIO(raw)) as image:
            size = list(image.size)
    return {
        "data_url": is_data_url,
        "mime": head[5:].split(";")[0] if is_data_url else None,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": size,
        "bytes": len(raw),
    }


def _error(message: str, code: str, kind: str = "server_error") -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # see fake_gemini: no 40 ms delayed-ACK per answer

        def log_message(self, *args) -> None:
            pass

        def _send(
            self, status: int, payload: dict | list | bytes, headers: dict | None = None
        ) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/_fake/stats":
                self._send(200, server.stats())
            elif path == "/_fake/requests":
                with server._lock:
                    self._send(200, list(server.seen))
            elif path in ("/v1/models", "/models"):
                with server._lock:
                    server.model_lists += 1
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                            for name in server.knobs.models
                        ],
                    },
                )
            else:
                self._send(404, _error(f"no such path: {self.path}", "not_found"))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/_fake/config":
                server.configure(json.loads(raw or b"{}"))
                self._send(200, asdict(server.knobs))
            elif path == "/_fake/reset":
                server.reset()
                self._send(200, {})
            elif path in ("/v1/chat/completions", "/chat/completions"):
                self._chat(raw)
            else:
                self._send(404, _error(f"no such path: {self.path}", "not_found"))

        def _chat(self, raw: bytes) -> None:
            with server._lock:
                server.arrivals.append(time.monotonic())
                server.in_flight += 1
                server.peak_concurrency = max(server.peak_concurrency, server.in_flight)
            try:
                self._answer(raw)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _answer(self, raw: bytes) -> None:
            authorization = self.headers.get("Authorization")
            try:
                seen = parse_chat_request(json.loads(raw or b"{}"), authorization)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                self._send(
                    400,
                    _error(f"bad request body: {exc}", "invalid_request", "invalid_request_error"),
                )
                return
            knobs = server.knobs
            if seen["model"] not in knobs.models:
                seen["behaviour"] = "unknown_model"
                status, payload = (
                    404,
                    _error(
                        f"The model `{seen['model']}` does not exist.",
                        "model_not_found",
                        "invalid_request_error",
                    ),
                )
            elif (
                knobs.expected_api_key is not None
                and authorization != f"Bearer {knobs.expected_api_key}"
            ):
                seen["behaviour"] = "bad_key"
                status, payload = (
                    401,
                    _error(
                        "Incorrect API key provided.", "invalid_api_key", "invalid_request_error"
                    ),
                )
            elif refused := server.refusal(seen["response_format"]):
                seen["behaviour"] = "refused_format"
                status, payload = 400, _error(refused, "invalid_request", "invalid_request_error")
            else:
                seen["behaviour"] = server.choose(seen)
                status = 0
            with server._lock:
                server.outcomes[seen["behaviour"]] += 1
                server.seen.append(seen)
            if status:
                self._send(status, payload)
                return
            if seen["behaviour"] == HANG:
                server._stopping.wait(knobs.hang_s)
                return  # the client has timed out by now; the connection just closes
            if knobs.latency_s > 0 and server._stopping.wait(knobs.latency_s):
                return
            self._send(*server.respond(seen, seen["behaviour"]))

    return Handler


class FakeOpenAIProcess:
    """``with FakeOpenAIProcess(latency_s=0.1) as server:`` runs the fake in a child process;
    ``configure``, ``requests`` and ``stats`` talk to it over its control endpoints (once it
    is stopped, they return what it last said, like FakeGemini's counters)."""

    def __init__(self, **knobs) -> None:
        self._knobs = knobs
        self.process: subprocess.Popen | None = None
        self.base_url = ""
        self._last: dict = {}

    def start(self) -> "FakeOpenAIProcess":
        import os

        from support import REPO, TESTS

        path = os.pathsep.join(filter(None, [str(REPO), str(TESTS), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.fake_openai", "--knobs", json.dumps(self._knobs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=path),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"fake OpenAI server did not start (said {line!r})")
        self.base_url = line
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._last = {"stats": self.stats(), "requests": self.requests()}
            assert self.process.stdin is not None
            self.process.stdin.close()  # it serves until stdin closes
            try:
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "FakeOpenAIProcess":
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, method: str, path: str, body: dict | None = None):
        import urllib.request

        root = self.base_url.removesuffix("/v1")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            root + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def configure(self, **changes) -> dict:
        return self._call("POST", "/_fake/config", changes)

    def reset(self) -> None:
        self._call("POST", "/_fake/reset", {})

    def requests(self) -> list[dict]:
        if self._last:
            return self._last["requests"]
        return self._call("GET", "/_fake/requests")

    def stats(self) -> dict:
        if self._last:
            return self._last["stats"]
        return self._call("GET", "/_fake/stats")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the fake OpenAI-compatible server until stdin closes; prints its base URL."
    )
    parser.add_argument("--knobs", default="{}", help="JSON object of Knobs fields")
    parser.add_argument("--latency", type=float, default=None)
    args = parser.parse_args(argv)
    knobs = json.loads(args.knobs)
    if args.latency is not None:
        knobs["latency_s"] = args.latency
    server = FakeOpenAI()
    server.configure(knobs)
    server.start()
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
