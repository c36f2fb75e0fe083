"""The dashboard's view of the project: manifests, the job in focus with its stages, the queue.

Loaded in a worker thread whenever the database changes; a few small queries. The core modules
the loading needs are imported by the loading functions (in that worker), not with this module:
the screen imports it before its first paint, and they bring the settings (pydantic) along.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from peewee import JOIN, fn

from vidpipe.store.models import (
    Asset,
    AssetState,
    ItemError,
    Manifest,
    Run,
    RunStatus,
    StageProgress,
    StageStatus,
    utcnow,
)


@dataclass(frozen=True)
class ManifestInfo:
    id: int | None  # None: a folder with files not ingested yet
    name: str
    folder: str
    assets: int = 0
    errors: int = 0
    pending: int = 0
    processed: int = 0
    untracked: int = 0
    run_status: str | None = None
    reviewed: int = 0


@dataclass(frozen=True)
class StageInfo:
    stage: str
    title: str
    status: str
    done: int
    total: int
    errors: int
    current_item: str | None
    message: str | None
    rate: float | None  # items per second
    eta_s: float | None


@dataclass(frozen=True)
class RunInfo:
    id: int
    kind: str
    status: str
    mode: str
    manifest: str
    asset: str | None
    error: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool = False
    stages: tuple[StageInfo, ...] = ()
    usage: dict | None = None  # vision-model tokens and cost (the job in focus only)

    @property
    def label(self) -> str:
        target = f"{self.manifest}/{self.asset}" if self.asset else self.manifest
        return f"#{self.id} {self.kind} {target}"


@dataclass(frozen=True)
class Snapshot:
    manifests: tuple[ManifestInfo, ...]
    focus: RunInfo | None
    queued: tuple[RunInfo, ...]
    running: tuple[RunInfo, ...]
    recent: tuple[RunInfo, ...] = ()
    stage_signature: tuple = field(default=())
    project_usage: dict | None = None  # vision-model tokens and cost of the whole project


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max((later - earlier).total_seconds(), 0.0)


def stage_info(row: StageProgress, now: datetime) -> StageInfo:
    from vidpipe.pipeline.stages.base import STAGE_TITLES, StageName

    rate = eta = None
    if row.status == StageStatus.RUNNING:
        elapsed = _seconds(now, row.started_at)
        if elapsed and row.done:
            rate = row.done / elapsed
            eta = max(row.total - row.done, 0) / rate if rate else None
    elif row.status == StageStatus.DONE and row.done:
        elapsed = _seconds(row.finished_at, row.started_at)
        rate = row.done / elapsed if elapsed else None
    return StageInfo(
        row.stage,
        STAGE_TITLES.get(StageName(row.stage), row.stage)
        if row.stage in StageName._value2member_map_
        else row.stage,
        row.status,
        row.done,
        row.total,
        row.errors,
        row.current_item,
        row.message,
        rate,
        eta,
    )


def _run_info(run: Run, names: dict[int, str], with_stages: bool, now: datetime) -> RunInfo:
    from vidpipe.prompting import ledger

    asset_name = None
    if run.asset_id:
        asset_name = Asset.select(Asset.name).where(Asset.id == run.asset_id).scalar()
    stages: tuple[StageInfo, ...] = ()
    usage = None
    if with_stages:
        rows = (
            StageProgress.select()
            .where(StageProgress.run == run.id)
            .order_by(StageProgress.position)
        )
        stages = tuple(stage_info(row, now) for row in rows)
        usage = ledger.totals(run_id=run.id)
    return RunInfo(
        run.id,
        run.kind,
        run.status,
        run.mode,
        names.get(run.manifest_id, "—"),
        asset_name,
        run.error,
        run.created_at,
        run.started_at,
        run.finished_at,
        bool(run.cancel_requested),
        stages,
        usage,
    )


def manifest_infos(untracked_by_folder: dict[str, int]) -> list[ManifestInfo]:
    from vidpipe.ops.status import error_counts

    counts: dict[int, dict[str, int]] = {}
    for manifest_id, state, count in (
        Asset.select(Asset.manifest, Asset.state, fn.COUNT(Asset.id))
        .group_by(Asset.manifest, Asset.state)
        .tuples()
    ):
        counts.setdefault(manifest_id, {})[state] = count
    errors = error_counts()
    reviewed = dict(
        Asset.select(Asset.manifest, fn.COUNT(Asset.id))
        .where(Asset.reviewed == True, Asset.state != AssetState.REMOVED)  # noqa: E712
        .group_by(Asset.manifest)
        .tuples()
    )
    latest_status = {}
    for manifest_id, status in (
        Run.select(Run.manifest, Run.status)
        .where(Run.id.in_(Run.select(fn.MAX(Run.id)).group_by(Run.manifest)))
        .tuples()
    ):
        latest_status[manifest_id] = status
    out = []
    seen_folders = set()
    for manifest in Manifest.select().order_by(Manifest.name):
        by_state = counts.get(manifest.id, {})
        seen_folders.add(manifest.folder)
        out.append(
            ManifestInfo(
                manifest.id,
                manifest.name,
                manifest.folder,
                assets=sum(v for k, v in by_state.items() if k != AssetState.REMOVED),
                errors=errors.get(manifest.id, 0),
                pending=by_state.get(AssetState.PENDING, 0),
                processed=by_state.get(AssetState.PROCESSED, 0),
                untracked=untracked_by_folder.get(manifest.folder, 0),
                run_status=latest_status.get(manifest.id),
                reviewed=reviewed.get(manifest.id, 0),
            )
        )
    for folder, count in sorted(untracked_by_folder.items()):
        if folder not in seen_folders and count:
            out.append(ManifestInfo(None, folder or "(project folder)", folder, untracked=count))
    return out


def load_snapshot(focus_manifest_id: int | None, untracked_by_folder: dict[str, int]) -> Snapshot:
    from vidpipe.prompting import ledger

    now = utcnow()
    manifests = manifest_infos(untracked_by_folder)
    names = {m.id: m.name for m in manifests if m.id is not None}
    running = list(Run.select().where(Run.status == RunStatus.RUNNING).order_by(Run.id))
    queued = list(
        Run.select()
        .where(Run.status == RunStatus.QUEUED)
        .order_by(Run.priority.desc(), Run.id)
        .limit(50)
    )
    recent = list(
        Run.select()
        .where(Run.status.not_in([RunStatus.RUNNING, RunStatus.QUEUED]))
        .order_by(Run.id.desc())
        .limit(5)
    )
    focus_run = None
    if running:
        # The run of the manifest on screen if it is running, else the oldest running one.
        focus_run = next((r for r in running if r.manifest_id == focus_manifest_id), running[0])
    elif focus_manifest_id is not None:
        focus_run = (
            Run.select().where(Run.manifest == focus_manifest_id).order_by(Run.id.desc()).first()
        )
    focus_run = focus_run or (recent[0] if recent else None)
    focus = _run_info(focus_run, names, True, now) if focus_run else None
    signature = tuple((s.stage, s.status) for s in focus.stages) if focus else ()
    return Snapshot(
        manifests=tuple(manifests),
        focus=focus,
        queued=tuple(_run_info(r, names, False, now) for r in queued),
        running=tuple(_run_info(r, names, False, now) for r in running),
        recent=tuple(_run_info(r, names, False, now) for r in recent),
        project_usage=ledger.totals(),
        stage_signature=(focus.id if focus else None, focus.status if focus else None, signature),
    )


@dataclass(frozen=True)
class ErrorInfo:
    stage: str
    asset_id: int | None
    asset_name: str
    message: str
    created_at: datetime | None
    manifest: str = ""


#: The "stage" of a file that could not be read at all (the asset is in state ERROR).
UNREADABLE = "file"


def manifest_errors(manifest_id: int | None) -> list[ErrorInfo]:
    """Every error a person should look at, of one manifest (None: of the project): files that
    could not be read, stages that failed on an asset (as the asset holds them now), and the
    latest job's errors that name no asset."""
    from vidpipe.ops.status import needs_a_look

    query = (
        Asset.select(
            Asset.id,
            Asset.name,
            Asset.state,
            Asset.error,
            Asset.stage_errors,
            Asset.updated_at,
            Manifest.name,
        )
        .join(Manifest)
        .where(needs_a_look())
        .order_by(Manifest.name, Asset.state != AssetState.ERROR, Asset.file_path)
    )
    if manifest_id is not None:
        query = query.where(Asset.manifest == manifest_id)
    out = []
    for asset_id, name, state, error, stage_errors, updated, manifest in query.tuples():
        if state == AssetState.ERROR:
            out.append(
                ErrorInfo(UNREADABLE, asset_id, name, error or "cannot be read", updated, manifest)
            )
            continue
        out += [
            ErrorInfo(stage, asset_id, name, message, updated, manifest)
            for stage, message in sorted((stage_errors or {}).items())
        ]
    # The latest job's errors that the assets do not hold (an item with no asset, or a stage
    # error the asset no longer records because a later step cleared it).
    seen = {(e.asset_id, e.stage) for e in out}
    latest = Run.select(fn.MAX(Run.id)).group_by(Run.manifest)
    if manifest_id is not None:
        latest = latest.where(Run.manifest == manifest_id)
    job = (
        ItemError.select(
            ItemError.stage,
            ItemError.asset,
            Asset.name,
            ItemError.message,
            ItemError.created_at,
            Manifest.name,
        )
        .join(Asset, JOIN.LEFT_OUTER, on=(ItemError.asset == Asset.id))
        .switch(ItemError)
        .join(Run)
        .join(Manifest, JOIN.LEFT_OUTER)
        .where(ItemError.run.in_(latest))
        .order_by(ItemError.id)
    )
    for stage, asset_id, name, message, created, manifest in job.tuples():
        if (asset_id, stage) not in seen:
            seen.add((asset_id, stage))
            out.append(ErrorInfo(stage, asset_id, name or "—", message, created, manifest or "—"))
    return out
