"""What a ``queue_url`` means beyond its syntax (vidpipe.config.settings checks that): whether
several daemons can share the queue."""

from __future__ import annotations


def shared_queue(queue_url: str | None) -> bool:
    """Whether ``queue_url`` is a queue several daemons (machines) can share: Redis. A SQLite
    queue file, the default included, has one daemon per project."""
    return (queue_url or "").split(":", 1)[0] in ("redis", "rediss", "unix")
