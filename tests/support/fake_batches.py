"""The fake Gemini server's Batch API: what google-genai's ``client.batches`` sends for the Gemini
Developer API with inlined requests (paths from the SDK's ``batches.py``):

  POST /{version}/models/{model}:batchGenerateContent  create: an Operation naming "batches/ID"
  GET  /{version}/batches/{ID}                          get: the Operation, ``metadata.state``
  POST /{version}/batches/{ID}:cancel                   cancel
  GET  /{version}/batches                               list: ``{"operations": [...]}``

Each inlined request is answered (and billed) by the server's usual rules when the batch is
created, and handed back in ``metadata.output.inlinedResponses`` with its ``metadata`` once the
batch has SUCCEEDED. A batch is PENDING when created, RUNNING at the first look, and SUCCEEDED at
a later look unless the server's ``batch_hold`` is set (``release_batches()`` clears it).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

CREATE_PATH = re.compile(r"^/[^/]+/models/(?P<model>[^/:]+):batchGenerateContent$")
BATCH_PATH = re.compile(r"^/[^/]+/batches/(?P<id>[^/:]+)(?P<cancel>:cancel)?$")
LIST_PATH = re.compile(r"^/[^/]+/batches$")

PENDING = "BATCH_STATE_PENDING"
RUNNING = "BATCH_STATE_RUNNING"
SUCCEEDED = "BATCH_STATE_SUCCEEDED"
CANCELLED = "BATCH_STATE_CANCELLED"
TERMINAL = (SUCCEEDED, CANCELLED, "BATCH_STATE_FAILED", "BATCH_STATE_EXPIRED")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeBatch:
    name: str
    display_name: str
    model: str
    responses: list[dict]
    state: str = PENDING
    looks: int = 0
    created: str = field(default_factory=_now)

    def operation(self) -> dict:
        metadata = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": f"models/{self.model}",
            "displayName": self.display_name,
            "name": self.name,
            "createTime": self.created,
            "updateTime": _now(),
            "state": self.state,
            "batchStats": {"requestCount": str(len(self.responses))},
        }
        if self.state == SUCCEEDED:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": self.responses}}
        operation = {"name": self.name, "metadata": metadata}
        if self.state in TERMINAL:
            operation["done"] = True
        return operation


class BatchStore:
    def __init__(self, server: Any, read_request: Callable[[dict, str, bool], Any]):
        """``server`` is the FakeGemini answering; ``read_request(request, model, had_key)``
        gives its record of one request, its behaviour chosen as for a direct request (so
        fake_gemini imports this module, never the other way round)."""
        self.server = server
        self.read_request = read_request
        self.batches: dict[str, FakeBatch] = {}
        self.submissions = 0
        self.cancels = 0
        self.looks = 0
        self._ids = itertools.count(1)

    def create(self, model: str, body: dict, had_key: bool) -> dict:
        batch = body.get("batch") or {}
        entries = ((batch.get("inputConfig") or {}).get("requests") or {}).get("requests") or []
        responses = []
        for entry in entries:
            seen = self.read_request(entry.get("request") or {}, model, had_key)
            self.server._record(seen)
            status, payload, _ = self.server.respond(seen, batch=True)
            result: dict = {"metadata": entry.get("metadata") or {}}
            if status == 200 and isinstance(payload, dict):
                result["response"] = payload
            else:
                message = (
                    payload.get("error", {}).get("message")
                    if isinstance(payload, dict)
                    else "the answer was not JSON"
                )
                result["error"] = {
                    "code": status if status != 200 else 500,
                    "message": message or "internal error",
                }
            responses.append(result)
        with self.server._lock:
            self.submissions += 1
            name = f"batches/fake{next(self._ids)}"
            self.batches[name] = FakeBatch(name, batch.get("displayName") or name, model, responses)
            return self.batches[name].operation()

    def get(self, batch_id: str) -> dict | None:
        with self.server._lock:
            batch = self.batches.get(f"batches/{batch_id}")
            if batch is None:
                return None
            self.looks += 1
            batch.looks += 1
            if batch.state == PENDING:
                batch.state = RUNNING
            elif batch.state == RUNNING and not self.server.batch_hold:
                batch.state = SUCCEEDED
            return batch.operation()

    def cancel(self, batch_id: str) -> bool:
        with self.server._lock:
            batch = self.batches.get(f"batches/{batch_id}")
            if batch is None:
                return False
            self.cancels += 1
            if batch.state not in TERMINAL:
                batch.state = CANCELLED
            return True

    def list(self) -> dict:
        with self.server._lock:
            return {"operations": [b.operation() for b in self.batches.values()]}

    def stats(self) -> dict:
        return {
            "submissions": self.submissions,
            "cancels": self.cancels,
            "looks": self.looks,
            "states": {name: b.state for name, b in self.batches.items()},
        }
