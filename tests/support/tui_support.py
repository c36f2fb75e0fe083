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
    from vidpipe.pipeline.ingest import add_files
    from vidpipe.store.session import open_project

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
    from vidpipe.store.models import Asset, AssetState, AssetType, Manifest, db
    from vidpipe.store.session import open_project

    session = open_project(root, create=True)
    try:
        types = [t.value for t in AssetType]
        with db.atomic():
            manifest, _ = Manifest.get_or_create(name=folder, defaults={"folder": folder})
            rows = [
                {
                    "manifest": manifest.id,
                    "name": f"asset {index:05d}",
                    "asset_type": types[index % len(types)],
                    "file_path": f"{folder}/a{index:05d}.jpg",
                    "content_hash": f"hash{index}",
                    "reverse_prompt": f"a prompt for asset {index}",
                    "state": AssetState.PROCESSED if index % 3 else AssetState.PENDING,
                    "sort_order": index,
                    "manifest_tag": f"REF_{index:05d}",
                }
                for index in range(count)
            ]
            for start in range(0, count, 500):
                Asset.insert_many(rows[start : start + 500]).execute()
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
    """The text a Static shows, or, for a container, what its Statics show, in order."""
    if not hasattr(widget, "content"):
        return "\n".join(text_of(child, width) for child in widget.query("Static"))
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.export_text()


def photo_sources() -> list[Path]:
    """The real photographs shipped in installed packages (see DESIGN.md); found without
    importing them (ultralytics would load torch)."""
    from importlib.util import find_spec

    def package(name: str) -> Path:
        return Path(find_spec(name).submodule_search_locations[0])

    assets = package("ultralytics") / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg", package("textual_image") / "gracehopper.jpg"]


def make_processed_project(root: Path, images: int = 12, folder: str = "characters") -> Path:
    """A project that looks processed: ``images`` photographs (crops and mirrors of the real
    ones) ingested, each with a tag, a prompt, a visual description and a quality score, and a
    finished process run with its stage rows. No stage runs (no ML stack is loaded)."""
    from PIL import ImageOps

    from vidpipe.pipeline.ingest import add_files
    from vidpipe.store.models import Asset, AssetState, Manifest, RunStatus, StageProgress, db
    from vidpipe.pipeline.runs import create_run
    from vidpipe.store.session import open_project

    staging = root.parent / f"{root.name}-staging"
    staging.mkdir(parents=True, exist_ok=True)
    photos = [Image.open(path).convert("RGB") for path in photo_sources()]
    sources = []
    for index in range(images):
        photo = photos[index % len(photos)]
        width, height = photo.size
        step = index // len(photos)
        image = photo.crop((width * step // 10, height * step // 12, width, height))
        if step % 2:
            image = ImageOps.mirror(image)
        path = staging / f"hero_{index:02d}.jpg"
        image.save(path, quality=85)
        sources.append(path)
    session = open_project(root, create=True)
    try:
        add_files(session.project, session.settings, sources, manifest=folder)
        manifest = Manifest.get(Manifest.folder == folder)
        with db.atomic():
            for index, asset in enumerate(
                Asset.select().where(Asset.manifest == manifest.id).order_by(Asset.file_path)
            ):
                asset.manifest_tag = f"CHAR_{index + 1:02d}"
                asset.asset_type = "CHARACTER"
                asset.state = AssetState.PROCESSED
                asset.reverse_prompt = (
                    f"cinematic photo of character {index + 1}, a person in "
                    "a city street, natural light, 35 mm, shallow depth of "
                    "field, muted colours"
                )
                asset.visual_description = (
                    f"Character {index + 1} stands in front of a bus; "
                    "dark jacket, short hair, looking at the camera. "
                    "Overcast daylight, urban background."
                )
                asset.quality_score = 0.6 + index / 100
                asset.save()
            run = create_run("process", manifest_id=manifest.id)
            run.status = RunStatus.DONE
            run.started_at = run.finished_at = run.created_at
            run.save()
            StageProgress.update(status="done", done=images, total=images).where(
                StageProgress.run == run.id
            ).execute()
    finally:
        session.close()
    return root


# The app as the TUI tests drive it: a terminal of SIZE, no folder watching.
SIZE = (180, 50)


def make_app(root: Path, **kwargs):
    from tui.app import VidpipeApp

    kwargs.setdefault("watch_folder", False)
    return VidpipeApp(root, keymap={}, **kwargs)


async def loaded(pilot, rows: int):
    screen = pilot.app.main_screen
    await wait_for(pilot, lambda: screen.table.row_count == rows, what=f"{rows} rows")
    return screen


def asset_named(name: str):
    from vidpipe.store.models import Asset

    return Asset.get(Asset.name == name)
