"""Resume after an interruption at every stage boundary (and in the middle of each stage).

Two identical projects: one processed without interruption, the other killed (a BaseException,
as Ctrl+C or SystemExit would be) at a given point and then run again. The final database state
(assets, crops, tags, contact sheets, stage marks) and the files must be the same, with no
duplicate asset or crop, and the interrupted Run must not stay RUNNING.

The pipeline is the real contact-sheet and tag stages around ``GridCropStage``, a small real
extraction stage (it crops two halves of each image into crop files, idempotently by
extraction key) standing in for detection, whose real YOLO implementation has its own tests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidpipe import imaging
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import (
    Asset,
    AssetType,
    ItemError,
    Manifest,
    Run,
    RunStatus,
    Source,
    StageMark,
    StageProgress,
    StageStatus,
)
from vidpipe.pipeline import runs
from vidpipe.store.session import open_project
from vidpipe.pipeline.stages.base import Stage, StageContext, StageName, mark_done
from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
from vidpipe.pipeline.stages.tags import TagStage
from vidpipe.pipeline.stopping import StopToken

IMAGES = 7


class SimulatedCrash(BaseException):
    """What the process sees when it is killed: not an Exception, so nothing swallows it."""


class GridCropStage(Stage):
    """Extracts the left and right halves of every uploaded image as crop assets."""

    name = StageName.DETECTION
    fingerprint = "grid-v1"

    def __init__(self):
        self.processed: list[str] = []

    def run(self, ctx: StageContext, progress) -> str:
        todo = ctx.needs_work(ctx.assets(source=Source.UPLOADED), self.name, self.fingerprint)
        progress.start(len(todo))
        for asset in todo:
            ctx.check_cancelled()
            image = imaging.load_full_rgb(
                ctx.project.absolute(asset.file_path),
                ctx.settings.max_image_pixels,
                within=ctx.project.root,
            )
            halves = {
                "left": (0, 0, image.width // 2, image.height),
                "right": (image.width // 2, 0, image.width, image.height),
            }
            for side, box in halves.items():
                crop = image.crop(box)
                confidence = round(0.5 + float(np.asarray(crop).mean()) / 512, 4)
                path = ctx.project.crops_dir / f"{asset.content_hash[:12]}-{side}.png"
                tmp = path.with_name(f".{path.name}.tmp")
                crop.save(tmp, "PNG")
                tmp.replace(path)
                key = f"grid:{side}"
                if (
                    Asset.get_or_none(Asset.source_asset == asset.id, Asset.extraction_key == key)
                    is None
                ):
                    Asset.create(
                        manifest=asset.manifest_id,
                        name=f"{asset.name} {side}",
                        asset_type=(AssetType.CHARACTER if side == "left" else AssetType.OBJECT),
                        source=Source.EXTRACTED,
                        source_asset=asset.id,
                        extraction_key=key,
                        file_path=ctx.project.relative(path),
                        content_hash=hashlib.sha1(crop.tobytes()).hexdigest(),
                        width=crop.width,
                        height=crop.height,
                        crop_bbox=list(box),
                        detection_class="half",
                        detection_confidence=confidence,
                    )
            mark_done(asset, self.name, self.fingerprint)
            self.processed.append(asset.file_path)
            progress.advance(1, item=asset.name)
        return f"{len(todo)} image(s)"


class CrashingProgress:
    """Passes progress through, and crashes after ``after`` advances."""

    def __init__(self, inner, after: int):
        self._inner, self._left = inner, after

    def advance(self, count: int = 1, item: str | None = None) -> None:
        self._inner.advance(count, item)
        self._left -= 1
        if self._left <= 0:
            raise SimulatedCrash("killed mid-stage")

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Interrupting(Stage):
    """Wraps a real stage; crashes before it, in the middle of it, or after its work."""

    def __init__(self, inner: Stage, when: str):
        self.inner, self.when, self.name = inner, when, inner.name

    def unavailable(self, ctx):
        return self.inner.unavailable(ctx)

    def run(self, ctx, progress):
        if self.when == "before":
            raise SimulatedCrash(f"killed before {self.name}")
        if self.when == "during":
            # The tag stage reports its one unit of work in one step.
            progress = CrashingProgress(progress, after=1 if self.name == StageName.TAGS else 2)
        summary = self.inner.run(ctx, progress)
        if self.when == "after":
            raise SimulatedCrash(f"killed after {self.name}'s work, before it was recorded")
        return summary


def make_project(root: Path) -> Path:
    folder = root / "refs"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for index in range(IMAGES):
        pixels = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
        pixels[:, :60] //= index + 1  # halves of different brightness → distinct confidences
        Image.fromarray(pixels).save(folder / f"img{index:02d}.png")
    (root / "vidpipe.toml").write_text(
        "contact_sheet_columns = 2\ncontact_sheet_rows_per_page = 1\n"
    )
    return root


def stages(crash_stage: StageName | None = None, when: str = "") -> list[Stage]:
    real = [ContactSheetStage(), GridCropStage(), TagStage()]
    return [Interrupting(s, when) if s.name == crash_stage else s for s in real]


def snapshot(session) -> dict:
    """Everything a run produces, in a form comparable across two project folders."""
    root = session.project.root
    assets = Asset.select().order_by(Asset.file_path)
    paths = {a.id: a.file_path for a in Asset.select()}
    return {
        "assets": [
            (
                a.file_path,
                a.name,
                a.asset_type,
                a.source,
                paths.get(a.source_asset_id),
                a.extraction_key,
                a.manifest_tag,
                a.state,
                a.width,
                a.height,
                a.crop_bbox,
                a.detection_confidence,
                a.content_hash,
                a.stage_errors,
            )
            for a in assets
        ],
        "marks": sorted((paths[m.asset_id], m.stage, m.fingerprint) for m in StageMark.select()),
        "sheets": [
            (m.name, m.contact_sheets, m.contact_sheet_fingerprint)
            for m in Manifest.select().order_by(Manifest.name)
        ],
        "files": sorted(
            (p.relative_to(root).as_posix(), hashlib.sha1(Image.open(p).tobytes()).hexdigest())
            for p in (root / ".vidpipe").rglob("*")
            if p.suffix in (".png", ".jpg")
        ),  # crops and contact sheet pages
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    root = make_project(tmp_path_factory.mktemp("reference") / "project")
    with open_project(root, create=True) as session:
        reconcile(session.project, session.settings)
        engine = ManifestingEngine(session.project, session.settings, stages=stages())
        run = engine.process_manifest(Manifest.get(Manifest.name == "refs"))
        assert run.status == RunStatus.DONE
        return snapshot(session)


def test_reference_run_is_complete(reference):
    uploaded = [a for a in reference["assets"] if a[3] == Source.UPLOADED]
    crops = [a for a in reference["assets"] if a[3] == Source.EXTRACTED]
    assert len(uploaded) == IMAGES and len(crops) == 2 * IMAGES
    assert len(reference["sheets"][0][1]) == 4  # 7 images, 2 per page
    files = [name for name, _ in reference["files"]]
    assert sum(f.startswith(".vidpipe/contact_sheets/") for f in files) == 4
    assert sum(f.startswith(".vidpipe/crops/") for f in files) == 2 * IMAGES
    tags = sorted(a[6] for a in reference["assets"])
    assert tags[:3] == ["CHAR_01", "CHAR_02", "CHAR_03"] and "OBJ_07" in tags


@pytest.mark.parametrize("resume", ["new-run", "same-run"])
@pytest.mark.parametrize("when", ["before", "during", "after"])
@pytest.mark.parametrize("stage", [StageName.CONTACT_SHEET, StageName.DETECTION, StageName.TAGS])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, reference, stage, when, resume):
    root = make_project(tmp_path / "project")
    with open_project(root, create=True) as session:
        reconcile(session.project, session.settings)
        manifest = Manifest.get(Manifest.name == "refs")
        crashing = ManifestingEngine(session.project, session.settings, stages=stages(stage, when))

        with pytest.raises(SimulatedCrash):
            crashing.process_manifest(manifest)

        interrupted = Run.get()
        assert interrupted.status == RunStatus.INTERRUPTED
        assert "SimulatedCrash" in interrupted.error
        rows = {
            r.stage: r.status
            for r in StageProgress.select().where(StageProgress.run == interrupted.id)
        }
        assert StageStatus.RUNNING not in rows.values()
        assert rows[stage] == StageStatus.PENDING

        resumed_stages = stages()
        engine = ManifestingEngine(session.project, session.settings, stages=resumed_stages)
        if resume == "same-run":
            assert runs.requeue(interrupted.id)
            run = engine.process_manifest(manifest, run=Run.get_by_id(interrupted.id))
            assert run.id == interrupted.id and run.attempts == 2
        else:
            run = engine.process_manifest(manifest)
        assert run.status == RunStatus.DONE, run.error

        # Only the missing work was done again.
        crop_stage = next(s for s in resumed_stages if isinstance(s, GridCropStage))
        if stage == StageName.DETECTION and when == "during":
            assert len(crop_stage.processed) == IMAGES - 2
        elif stage == StageName.DETECTION and when == "before" or stage == StageName.CONTACT_SHEET:
            assert len(crop_stage.processed) == IMAGES
        else:
            assert crop_stage.processed == []
        assert Asset.select().where(Asset.source == Source.EXTRACTED).count() == 2 * IMAGES

        assert ItemError.select().count() == 0
        assert snapshot(session) == reference


def test_cancel_is_not_an_interruption(session, tmp_path):
    """A cancelled run ends CANCELLED (not INTERRUPTED), keeps its work, and a rerun finishes it."""
    make_project(session.project.root)
    reconcile(session.project, session.settings)
    manifest = Manifest.get(Manifest.name == "refs")
    cancel = StopToken()
    cancel.cancel()
    engine = ManifestingEngine(session.project, session.settings, stages=stages())
    run = engine.process_manifest(manifest, stop=cancel)
    assert run.status == RunStatus.CANCELLED
    run = engine.process_manifest(manifest)
    assert run.status == RunStatus.DONE
    assert Asset.select().where(Asset.source == Source.EXTRACTED).count() == 2 * IMAGES
