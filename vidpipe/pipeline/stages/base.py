"""The one small interface every pipeline stage implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Iterable

from vidpipe.errors import RunCancelled, RunInterrupted
from vidpipe.store.models import Asset, AssetState, Manifest, Run, Source, StageMark, utcnow
from vidpipe.pipeline.stopping import StopReason, StopToken

if TYPE_CHECKING:
    from vidpipe.config.settings import Settings
    from vidpipe.pipeline.progress import ProgressReporter
    from vidpipe.store.project import Project


class StageName(StrEnum):
    CONTACT_SHEET = "contact_sheet"
    DETECTION = "detection"
    FACES = "faces"
    PROMPTS = "prompts"
    TAGS = "tags"
    CHARACTERS = "characters"


STAGE_ORDER = [
    StageName.CONTACT_SHEET,
    StageName.DETECTION,
    StageName.FACES,
    StageName.PROMPTS,
    StageName.TAGS,
    StageName.CHARACTERS,
]

STAGE_TITLES = {
    StageName.CONTACT_SHEET: "Contact sheet",
    StageName.DETECTION: "Detection",
    StageName.FACES: "Faces",
    StageName.PROMPTS: "Reverse prompting",
    StageName.TAGS: "Tags",
    StageName.CHARACTERS: "Characters",
}


@dataclass
class StageContext:
    """What a stage gets to work with for one run over one manifest."""

    project: "Project"
    settings: "Settings"
    manifest: Manifest
    run: Run
    mode: str = "missing"  # "missing": only work not done yet; "all": redo everything
    only_assets: list[int] | None = None  # restrict to these asset ids (reprocess)
    overwrite: bool = False  # reprocess: AI output replaces a person's edit (kept in history)
    # Images ingested after the job first started (id above this) belong to the next job.
    assets_upto: int | None = None
    stop: StopToken = field(default_factory=StopToken)
    tags_given: dict[int, str] = field(default_factory=dict)  # this run's new tags, for the report
    # The response_format each OpenAI-compatible server accepted this run (see openai_backend):
    # shared by the early prompts and the prompt stage, so a refusal is met once per run.
    prompt_formats: dict[str, str] = field(default_factory=dict)

    @property
    def force(self) -> bool:
        return self.mode == "all"

    def stop_reason(self) -> StopReason | None:
        """Why the run should stop now, if it should: a person's cancel (in this process or
        through the database) wins over the process shutting down."""
        if (
            self.stop.reason != StopReason.CANCEL
            and Run.select(Run.cancel_requested).where(Run.id == self.run.id).scalar()
        ):
            self.stop.cancel()
        return self.stop.reason

    def check_cancelled(self, kept: str | None = None) -> None:
        """Raise RunCancelled if a person asked to stop, RunInterrupted if the process is
        stopping; ``kept`` says what was kept of the work in progress."""
        reason = self.stop_reason()
        suffix = f"; {kept}" if kept else ""
        if reason == StopReason.CANCEL:
            raise RunCancelled(f"cancelled{suffix}")
        if reason == StopReason.SHUTDOWN:
            raise RunInterrupted(f"the process is stopping{suffix}; resumes on the next start")

    # -- asset selection helpers shared by stages -------------------------------------------------
    def assets(self, source: Source | None = None, include_errors: bool = False) -> list[Asset]:
        query = Asset.select().where(
            Asset.manifest == self.manifest, Asset.state != AssetState.REMOVED
        )
        if not include_errors:
            query = query.where(Asset.state != AssetState.ERROR)
        if source is not None:
            query = query.where(Asset.source == source)
        if self.only_assets is not None:
            query = query.where(Asset.id.in_(self.only_assets))
        if self.assets_upto is not None:
            query = query.where(self.started_with())
        return list(query.order_by(Asset.sort_order, Asset.file_path))

    def tagging_scope(self) -> set[int]:
        """The assets this job may give tags to: the ones it ran detection and faces for (a
        later drop waits for its own job, so its type is known before its tag is given)."""
        ids = {a.id for a in self.assets()}
        if self.only_assets:
            ids |= {
                row[0]
                for row in Asset.select(Asset.id)
                .where(Asset.source_asset.in_(self.only_assets))
                .tuples()
            }
        return ids

    def started_with(self):
        """The condition for assets this job owns: every crop (only this manifest's jobs, one at
        a time, cut them), and the images ingested before it first started."""
        return (Asset.source != Source.UPLOADED) | (Asset.id <= self.assets_upto)

    def new_crops(self, stage: str, fingerprint: str) -> list[Asset]:
        """Reprocess: crops of the asked-for assets that ``stage`` has not done yet (cut by this
        job's detection), so that the job finishes them instead of leaving them for another."""
        if not self.only_assets:
            return []
        crops = list(
            Asset.select()
            .where(
                Asset.manifest == self.manifest,
                Asset.source == Source.EXTRACTED,
                Asset.source_asset.in_(self.only_assets),
                Asset.id.not_in(self.only_assets),
                Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
            )
            .order_by(Asset.sort_order, Asset.file_path)
        )
        if not crops:
            return []
        done = {
            row[0]
            for row in StageMark.select(StageMark.asset)
            .where(
                StageMark.stage == stage,
                StageMark.fingerprint == fingerprint,
                StageMark.asset.in_([c.id for c in crops]),
            )
            .tuples()
        }
        return [c for c in crops if c.id not in done]

    def needs_work(self, assets: Iterable[Asset], stage: str, fingerprint: str) -> list[Asset]:
        """The assets this stage still has to do (all of them when forced)."""
        assets = list(assets)
        if self.force or not assets:
            return assets
        done = set(
            StageMark.select(StageMark.asset)
            .where(
                StageMark.stage == stage,
                StageMark.fingerprint == fingerprint,
                StageMark.asset.in_([a.id for a in assets]),
            )
            .tuples()
        )
        done_ids = {row[0] for row in done}
        return [a for a in assets if a.id not in done_ids]


def mark_done(asset: Asset, stage: str, fingerprint: str) -> None:
    (
        StageMark.insert(asset=asset.id, stage=stage, fingerprint=fingerprint, done_at=utcnow())
        .on_conflict(
            conflict_target=[StageMark.asset, StageMark.stage],
            update={StageMark.fingerprint: fingerprint, StageMark.done_at: utcnow()},
        )
        .execute()
    )


class Stage:
    """Base of the five stages.

    ``unavailable()`` returns a reason when the stage cannot run at all (no weights, not built);
    the engine then records the stage as skipped with that reason. ``run()`` does the work,
    reports through ``progress`` and records per-asset failures with ``progress.error`` instead of
    raising, so one bad asset never stops the others. A stage must be idempotent: run twice, it
    leaves the same rows (extracted assets are found again by ``extraction_key``).
    """

    name: StageName

    def unavailable(self, ctx: StageContext) -> str | None:
        return None

    def run(self, ctx: StageContext, progress: "ProgressReporter") -> str | None:
        """Do the work; return an optional summary message for the progress row."""
        raise NotImplementedError


def set_stage_error(asset_id: int, stage: str, message: str | None) -> None:
    """Record (or clear, with None) why ``stage`` failed on one asset. The asset stays in the
    pipeline: a rerun in "missing" mode tries it again because no StageMark was written."""
    from vidpipe.store.models import db

    if message is None and stage not in _stage_errors(asset_id):
        return  # the common case, once per asset done: no write transaction (and lock) for it
    with db.atomic():
        errors = _stage_errors(asset_id)
        if message is None and stage not in errors:
            return
        if message is None:
            errors.pop(stage, None)
        else:
            errors[stage] = message
        Asset.update(stage_errors=errors, updated_at=utcnow()).where(Asset.id == asset_id).execute()


def _stage_errors(asset_id: int) -> dict:
    return dict(Asset.select(Asset.stage_errors).where(Asset.id == asset_id).scalar() or {})


def fail_asset(progress: "ProgressReporter", stage: str, asset: Asset, message: str) -> None:
    """One asset failed in ``stage``: count it in the progress row (listable error), record it on
    the asset (a "missing" rerun tries again), and move on to the next asset."""
    progress.error(asset, f"{asset.name}: {message}")
    set_stage_error(asset.id, stage, message)
    progress.advance(1, item=asset.name)
