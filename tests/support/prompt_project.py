"""A project for the prompt-stage tests: distinct generated images, crops as detection leaves
them, settings pointing at a fake Gemini server, and one run of the prompt stage alone."""

from __future__ import annotations

import random

from PIL import Image

from support.fake_gemini import FakeGemini
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.store.models import Asset, Manifest, Source

API_KEY = "AIzaSy-test-SECRET-key-0123456789abcdef"


def noise_image(path, seed: int, size=(96, 64)) -> None:
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    pixels = image.load()
    assert pixels is not None
    for _ in range(200):  # distinct content per seed
        pixels[rng.randrange(size[0]), rng.randrange(size[1])] = (
            rng.randrange(256),
            rng.randrange(256),
            rng.randrange(256),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def add_images(session, count: int, prefix: str = "img", size=(96, 64)) -> list[Asset]:
    for index in range(count):
        noise_image(
            session.project.root / f"{prefix}_{index:03d}.png", seed=index + 1000, size=size
        )
    reconcile(session.project, session.settings)
    return list(Asset.select().order_by(Asset.file_path))


def add_crop(
    session, parent: Asset, key: str, source_image, detection_class="person", face=False
) -> Asset:
    """An extracted asset as the detection/faces stages would leave it."""
    from vidpipe.pipeline.ingest import content_hash

    crop_path = session.project.crops_dir / f"{parent.id}_{key.replace(':', '_')}.png"
    crop_path.parent.mkdir(parents=True, exist_ok=True)
    crop_path.write_bytes(source_image.read_bytes())
    return Asset.create(
        manifest=parent.manifest,
        name=f"{parent.name} {detection_class}",
        source=Source.EXTRACTED,
        source_asset=parent,
        extraction_key=key,
        asset_type="CHARACTER",
        file_path=session.project.relative(crop_path),
        content_hash=content_hash(crop_path),
        file_size=crop_path.stat().st_size,
        width=40,
        height=60,
        detection_class=detection_class,
        detection_confidence=0.9,
        is_face_crop=face,
        crop_bbox=[0, 0, 40, 60],
    )


def settings_for(session, server: FakeGemini | None, **changes):
    base = dict(
        gemini_api_key=API_KEY if server else None,
        gemini_base_url=server.base_url if server else None,
        prompt_timeout_s=2.0,
        prompt_max_retries=8,
        prompt_concurrency=5,
    )
    base.update(changes)
    return session.settings.replace(**base)


def process(session, settings, mode="all", stop=None):
    engine = ManifestingEngine(
        session.project, settings, stages=[PromptStage()], progress_interval=0
    )
    manifest = Manifest.get()
    return engine.process_manifest(manifest, mode, stop=stop)
