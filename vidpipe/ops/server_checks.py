"""`vidpipe doctor` checks for the database and queue servers of a scaled-out project
(vidpipe.ops.doctor lists SERVER_CHECKS). Without URLs both live in PROJECT/.vidpipe/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from vidpipe.config.settings import Settings
from vidpipe.ops.diagnostics import Check

CONNECT_TIMEOUT_S = 5


def shown_url(url: str) -> str:
    """``url`` without its password, fit for a terminal or a log."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


def check_database_server(settings: Settings, project: Path | None) -> Check:
    url = settings.database_url
    if not url or url.startswith("sqlite"):
        return Check(
            "database", "ok", "SQLite file in the project's .vidpipe/ folder (one machine)"
        )
    try:
        import psycopg2
    except ImportError:
        return Check(
            "database",
            "fail",
            f"{shown_url(url)}: the PostgreSQL driver is missing",
            "pip install psycopg2-binary",
        )
    parsed = urlparse(url)
    try:
        connection = psycopg2.connect(
            host=parsed.hostname,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.path.lstrip("/"),
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg2.Error as exc:
        return Check(
            "database",
            "fail",
            f"{shown_url(url)}: {str(exc).strip()}",
            "start PostgreSQL, or fix database_url (see README, Scaling out)",
        )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SELECT to_regclass('schema_info') IS NOT NULL")
            has_schema = cursor.fetchone()[0]
    finally:
        connection.close()
    schema = "schema present" if has_schema else "empty: `vidpipe init PROJECT` creates the schema"
    return Check("database", "ok", f"PostgreSQL {version} at {shown_url(url)}; {schema}")


def check_queue_server(settings: Settings, project: Path | None) -> Check:
    url = settings.queue_url
    if not url or url.startswith("sqlite"):
        return Check(
            "queue",
            "ok",
            "SQLite queue file in the project's .vidpipe/ folder (daemons on one machine)",
        )
    try:
        import redis
    except ImportError:
        return Check(
            "queue", "fail", f"{shown_url(url)}: the Redis client is missing", "pip install redis"
        )
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )  # connects on first use
    try:
        version = client.info("server").get("redis_version", "?")
    except redis.exceptions.RedisError as exc:
        return Check(
            "queue",
            "fail",
            f"{shown_url(url)}: {exc}",
            "start redis-server, or fix queue_url (see README, Scaling out)",
        )
    finally:
        client.close()
    return Check("queue", "ok", f"Redis {version} at {shown_url(url)}")


SERVER_CHECKS = [check_database_server, check_queue_server]
