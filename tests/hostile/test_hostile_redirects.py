"""The API key never follows a redirect: the configured endpoint answers 307 to a second local
server, which records whether anything (and the key) reached it. The real google-genai SDK, its
async client (the prompt stage) and its sync client (the Batch API path); the real openai SDK
of the OpenAI-compatible backend."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from support.fake_gemini import REDIRECT, FakeGemini, Rule

from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.prompting.gemini import sdk_client
from vidpipe.store.models import Asset, Manifest

API_KEY = "AIzaSy-test-SECRET-key-redirect-0123456"


@pytest.fixture
def elsewhere():
    """Another host: whatever reaches it has left the configured endpoint."""
    with FakeGemini() as server:
        yield server


@pytest.fixture
def endpoint(elsewhere):
    with FakeGemini(rules=[Rule("", REDIRECT)], redirect_to=elsewhere.base_url) as server:
        yield server


def test_the_prompt_stage_does_not_follow_a_redirect(session, endpoint, elsewhere):
    Image.new("RGB", (64, 48), (20, 120, 40)).save(session.project.root / "hero.png")
    reconcile(session.project, session.settings)
    settings = session.settings.replace(
        gemini_api_key=API_KEY,
        gemini_base_url=endpoint.base_url,
        prompt_timeout_s=5.0,
        prompt_max_retries=2,
    )
    engine = ManifestingEngine(session.project, settings, stages=[PromptStage()])

    engine.process_manifest(Manifest.get())

    assert endpoint.requests == 1  # a redirect is not retried either
    assert elsewhere.seen == [] and elsewhere.requests == 0
    hero = Asset.get()
    message = " ".join(hero.stage_errors.values())
    assert "redirect (307 to 127.0.0.1:" in message and "gemini_base_url" in message
    assert API_KEY not in message and not hero.reverse_prompt


def test_the_sync_client_does_not_follow_a_redirect(endpoint, elsewhere):
    from google.genai import errors

    client = sdk_client(API_KEY, endpoint.base_url, 5.0)
    try:
        with pytest.raises(errors.APIError) as raised:
            client.models.generate_content(model="gemini-2.5-flash", contents="hello")
    finally:
        client.close()
    assert raised.value.code == 307
    assert endpoint.requests == 1 and elsewhere.requests == 0


def test_the_setting_reaches_both_http_clients():
    """What the two tests above rely on, read back from the SDK's own clients: google-genai
    passes HttpOptions.client_args / async_client_args to httpx."""
    client = sdk_client(API_KEY, "http://127.0.0.1:9", 5.0)
    try:
        api = client._api_client
        assert api._httpx_client.follow_redirects is False
        assert api._async_httpx_client.follow_redirects is False
    finally:
        client.close()


# -- the OpenAI-compatible backend ----------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    """Answers every POST with 307 to ``target`` (when set), or records it (when not)."""

    target: str | None = None
    seen: list = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.target:
            self.send_response(307)
            self.send_header("Location", self.target + self.path)
        else:
            self.seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def http_server(target: str | None):
    handler = type("Handler", (_Recorder,), {"target": target, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_openai_backend_does_not_follow_a_redirect():
    pytest.importorskip("openai")
    from vidpipe.prompting.openai_backend import OpenAIClient
    from vidpipe.prompting.retry import PermanentFailure

    async def ask(base_url: str):
        async with OpenAIClient(
            f"{base_url}/v1", "some-model", api_key="sk-SECRET-openai", timeout_s=5.0
        ) as client:
            return await client.describe(b"\xff\xd8 not an image", "describe it")

    with http_server(None) as (elsewhere, seen), http_server(elsewhere) as (endpoint, _):
        with pytest.raises(PermanentFailure, match="redirect .307 to 127.0.0.1") as raised:
            asyncio.run(ask(endpoint))
    assert seen == []
    assert "openai_base_url" in str(raised.value) and "sk-SECRET" not in str(raised.value)
