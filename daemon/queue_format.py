"""What a queue entry may hold: plain data, as JSON. Never pickle.

Huey pickles its messages by default, and unpickling runs whatever the bytes say. A project
folder travels between people, so ``queue.db`` is untrusted input: a planted entry must not
run code when the daemon reads it. vidpipe's tasks take only ids and paths, so their messages
fit JSON; the few richer values Huey itself puts in a message (its namedtuple, an ETA, a
tuple) are written as tagged objects and rebuilt from a closed list of types.

An entry that does not decode (a pickle, random bytes, an unknown tag) raises
:class:`UndecodableEntry`; :class:`PlainDataQueue` logs it and drops it, and reads the next one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from huey.exceptions import HueyException
from huey.registry import Message
from huey.serializer import Serializer

log = logging.getLogger(__name__)

FORMAT = "vidpipe-queue/1"
#: vidpipe's messages are a few hundred bytes; anything far larger is not one of them.
MAX_ENTRY_BYTES = 64 * 1024
_TAGS = ("$tuple", "$datetime", "$timedelta", "$message")
#: More retries than any vidpipe task asks for means the entry was not written by vidpipe.
MAX_RETRIES = 10
#: vidpipe's task names (daemon.tasks registers them); each takes one run id.
PROCESS_MANIFEST = "vidpipe.process_manifest"
REPROCESS_ASSET = "vidpipe.reprocess_asset"
#: vidpipe's tasks take one id or one path, positionally.
MAX_ARGS = 4
#: An id the database can hold (64-bit), a path a file system can.
MAX_ID = 2**63 - 1
MAX_TEXT_ARG = 4096


class UndecodableEntry(ValueError):
    """A queue entry that is not vidpipe's plain-data format."""


def _encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Message):  # a namedtuple: check before tuple
        return {"$message": {name: _encode(getattr(value, name)) for name in Message._fields}}
    if isinstance(value, (list, tuple)):
        items = [_encode(item) for item in value]
        return items if isinstance(value, list) else {"$tuple": items}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, dict):
        if not all(isinstance(key, str) and not key.startswith("$") for key in value):
            raise TypeError(f"queue data: dict keys must be plain strings, got {list(value)!r}")
        return {key: _encode(item) for key, item in value.items()}
    raise TypeError(f"queue data holds only plain values, not {type(value).__name__}")


def _decode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        raise UndecodableEntry(f"unexpected JSON value {type(value).__name__}")
    tags = [key for key in value if key.startswith("$")]
    if not tags:
        return {key: _decode(item) for key, item in value.items()}
    if len(value) != 1 or tags[0] not in _TAGS:
        raise UndecodableEntry(f"unknown tag {tags[0]!r}")
    tag, body = tags[0], value[tags[0]]
    if tag == "$tuple" and isinstance(body, list):
        return tuple(_decode(item) for item in body)
    if tag == "$datetime" and isinstance(body, str):
        return dt.datetime.fromisoformat(body)
    if tag == "$timedelta" and isinstance(body, (int, float)) and not isinstance(body, bool):
        return dt.timedelta(seconds=body)
    if tag == "$message" and isinstance(body, dict) and set(body) <= set(Message._fields):
        return _checked_message(Message(**{name: _decode(item) for name, item in body.items()}))
    raise UndecodableEntry(f"malformed {tag} value")


def _is_number(value, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def _takes_one_run_id(name) -> bool:
    return isinstance(name, str) and name.endswith((PROCESS_MANIFEST, REPROCESS_ASSET))


def _checked_message(message: Message) -> Message:
    """A task message shaped like the ones vidpipe writes: a named task, positional plain
    arguments, bounded retries, no chained callbacks (vidpipe never chains tasks)."""
    problems = []
    if not isinstance(message.name, str) or not message.name:
        problems.append("no task name")
    if (
        not isinstance(message.args, (list, tuple))
        or len(message.args) > MAX_ARGS
        or not all(
            _is_number(arg, 0, MAX_ID)
            and isinstance(arg, int)
            or isinstance(arg, str)
            and len(arg) <= MAX_TEXT_ARG
            for arg in message.args
        )
    ):
        problems.append("arguments other than a few ids or paths")
    elif _takes_one_run_id(message.name) and (
        len(message.args) != 1 or not isinstance(message.args[0], int)
    ):
        problems.append(f"{len(message.args)} arguments where the task takes one run id")
    if message.kwargs not in (None, {}):
        problems.append("keyword arguments")
    if message.retries is not None and not _is_number(message.retries, 0, MAX_RETRIES):
        problems.append(f"retries {message.retries!r}")
    if message.retry_delay is not None and not _is_number(message.retry_delay, 0, 86_400):
        problems.append(f"retry delay {message.retry_delay!r}")
    if message.eta is not None and not isinstance(message.eta, dt.datetime):
        problems.append("eta is not a time")
    if message.expires_resolved is not None and not isinstance(
        message.expires_resolved, dt.datetime
    ):
        problems.append("expiry is not a time")
    if message.timeout is not None and not _is_number(message.timeout, 0, 86_400 * 7):
        problems.append(f"timeout {message.timeout!r}")
    if any(
        getattr(message, name) is not None for name in ("on_complete", "on_error", "chord_config")
    ):
        problems.append("chained tasks")
    if problems:
        raise UndecodableEntry("task message with " + ", ".join(problems))
    return message


class PlainDataSerializer(Serializer):
    """Huey serializer writing ``{"format": FORMAT, "data": ...}`` as UTF-8 JSON."""

    def __init__(self):
        super().__init__(compression=False)

    def serialize(self, data) -> bytes:
        return json.dumps(
            {"format": FORMAT, "data": _encode(data)}, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")

    def deserialize(self, data) -> object:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise UndecodableEntry(f"a {type(data).__name__} where bytes were expected")
        size = len(data)
        if not size or size > MAX_ENTRY_BYTES:
            raise UndecodableEntry(f"entry of {size} bytes")
        try:
            envelope = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise UndecodableEntry(f"{size} bytes that are not JSON (a pickle?)") from None
        if (
            not isinstance(envelope, dict)
            or envelope.get("format") != FORMAT
            or set(envelope) != {"format", "data"}
        ):
            raise UndecodableEntry("JSON that is not a vidpipe queue entry")
        try:
            return _decode(envelope["data"])
        except (TypeError, ValueError, RecursionError) as exc:
            raise UndecodableEntry(str(exc)) from None


class PlainDataQueue:
    """Mixed into a Huey class: reads past entries that do not decode (logged and dropped,
    the storage has already removed them) instead of stopping at them."""

    def dequeue(self):
        while True:
            data = self.storage.dequeue()
            if data is None:
                return None
            try:
                return self.deserialize_task(data)
            except (UndecodableEntry, HueyException) as exc:
                # HueyException: a well-formed entry naming a task this daemon does not have.
                log.warning("dropped a queue entry that is not a vidpipe job: %s", exc)

    def is_revoked(self, task, timestamp=None, peek=True):
        # vidpipe never revokes through Huey (a cancel is a Run row in the project database),
        # so a revocation found in the queue file was planted: it must not silence jobs.
        return False

    def _deserialize_all(self, messages):
        # pending()/scheduled(): list what decodes, say once per bad entry why the rest is not.
        tasks = []
        for data in messages:
            try:
                tasks.append(self.deserialize_task(data))
            except (UndecodableEntry, HueyException) as exc:
                log.warning("ignored a queue entry that is not a vidpipe job: %s", exc)
        return tasks


def plain_data_class(huey_class: type) -> type:
    """``huey_class`` reading and writing only plain-data entries."""
    return type(f"PlainData{huey_class.__name__}", (PlainDataQueue, huey_class), {})
