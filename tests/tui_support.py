"""Helpers shared by the TUI tests and bench/tui.py: projects with real rows, waiting on the app."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

from PIL import Image
from rich.console import Console

COLORS = [(200, 30, 30), (30, 160, 60), (40, 60, 200), (220, 200, 40), (120, 40, 160)]


def make_project(root: Path, images: int = 3, folder: str | None = "characters") -> Path:
    """An initialised project with ``images`` small real images ingested (no stage run)."""
    from vidpipe.ingest import add_files
    from vidpipe.session import open_project

    session = open_project(root, create=True)
    try:
        sources = []
        staging = root.parent / f"{root.name}-staging"
        staging.mkdir(parents=True, exist_ok=True)
        for index in range(images):
            path = staging / f"hero_{index:02d}.png"
            Image.new("RGB", (96 + index, 64), COLORS[index % len(COLORS)]).save(path)
            sources.append(path)
        add_files(session.project, session.settings, sources, manifest=folder)
    finally:
        session.close()
    return root


def bulk_assets(root: Path, count: int, folder: str = "bulk") -> int:
    """Insert ``count`` asset rows into a manifest in one transaction; returns the manifest id."""
    from vidpipe.models import Asset, AssetState, AssetType, Manifest, db
    from vidpipe.session import open_project

    session = open_project(root, create=True)
    try:
        types = [t.value for t in AssetType]
        with db.atomic():
            manifest, _ = Manifest.get_or_create(name=folder, defaults={"folder": folder})
            rows = [{
                "manifest": manifest.id, "name": f"asset {index:05d}",
                "asset_type": types[index % len(types)], "file_path": f"{folder}/a{index:05d}.jpg",
                "content_hash": f"hash{index}", "reverse_prompt": f"a prompt for asset {index}",
                "state": AssetState.PROCESSED if index % 3 else AssetState.PENDING,
                "sort_order": index, "manifest_tag": f"REF_{index:05d}",
            } for index in range(count)]
            for start in range(0, count, 500):
                Asset.insert_many(rows[start:start + 500]).execute()
        return manifest.id
    finally:
        session.close()


async def settle(pilot, rounds: int = 4) -> None:
    """Let messages and workers run until they are done (no fixed sleeps)."""
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()


async def wait_for(pilot, predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll ``predicate`` while the app runs, up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.app.workers.wait_for_complete()
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.02)  # yield to the app's event loop between polls
        await pilot.pause()
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def text_of(widget, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.export_text()
