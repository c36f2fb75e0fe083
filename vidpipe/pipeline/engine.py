"""The manifesting engine: runs the stages over a manifest, in order, with progress rows.

Resumable by construction: every stage skips work it has already done (StageMark fingerprints,
extraction keys), so a run killed at any point and started again does only what is missing and
ends in the same state.
"""

from __future__ import annotations

import logging
import traceback
from typing import Callable

from vidpipe.pipeline import runs
from vidpipe.config.settings import Settings
from vidpipe.errors import (
    DatabaseUnreachable,
    LeaseLost,
    RunCancelled,
    RunInterrupted,
    RunStopped,
    StageSkipped,
    VidpipeError,
)
from vidpipe.store.models import (
    Asset,
    AssetState,
    Manifest,
    Run,
    RunKind,
    RunMode,
    RunStatus,
    StageProgress,
    StageStatus,
    utcnow,
)
from vidpipe.pipeline.progress import Listener, ProgressReporter
from vidpipe.store.fencing import fenced
from vidpipe.store.project import Project
from vidpipe.pipeline.runs import REPROCESS_STAGES, assets_upto, create_run, stage_rows
from vidpipe.pipeline.stages import default_stages
from vidpipe.pipeline.stages.base import Stage, StageContext, StageName
from vidpipe.pipeline.stopping import StopToken

log = logging.getLogger(__name__)


class ManifestingEngine:
    def __init__(
        self,
        project: Project,
        settings: Settings,
        stages: list[Stage] | None = None,
        listener: Listener | None = None,
        progress_interval: float = 0.25,
    ):
        self.project = project
        self.settings = settings
        self.stages = {stage.name: stage for stage in (stages or default_stages(settings))}
        self.listener = listener
        self.progress_interval = progress_interval

    # -- public API -----------------------------------------------------------------------------
    def process_manifest(
        self,
        manifest: Manifest | int,
        mode: RunMode | str = RunMode.MISSING,
        run: Run | None = None,
        stop: StopToken | None = None,
    ) -> Run:
        """Run every stage over ``manifest``; ``mode`` is "missing" (default) or "all".

        ``run`` is a QUEUED run to claim, or one this process has claimed already; ``stop`` is
        how another thread asks it to stop (cancel or shutdown)."""
        manifest = manifest if isinstance(manifest, Manifest) else Manifest.get_by_id(manifest)
        if run is None:
            run = create_run(
                RunKind.PROCESS, manifest_id=manifest.id, mode=mode, stages=list(self.stages)
            )
        return self._execute(run, manifest, mode, None, stop)

    def reprocess_asset(
        self,
        asset_id: int,
        overwrite: bool = False,
        run: Run | None = None,
        stop: StopToken | None = None,
    ) -> Run:
        """Rerun detection and reverse prompting for one asset, then reassign tags.

        Fields a person edited are left alone (the new AI output becomes a suggestion in the
        history) unless ``overwrite``.
        """
        asset = Asset.get_by_id(asset_id)
        if run is None:
            run = create_run(
                RunKind.REPROCESS,
                manifest_id=asset.manifest_id,
                asset_id=asset.id,
                mode=RunMode.ALL,
                stages=REPROCESS_STAGES,
                args={"overwrite": overwrite},
            )
        overwrite = bool(run.args.get("overwrite", overwrite))
        return self._execute(
            run, asset.manifest, RunMode.ALL, [asset.id], stop, overwrite=overwrite
        )

    # -- internals ------------------------------------------------------------------------------
    def _execute(
        self,
        run: Run,
        manifest: Manifest,
        mode: str,
        only_assets: list[int] | None,
        stop: StopToken | None,
        overwrite: bool = False,
    ) -> Run:
        if not runs.claim(run.id) and not runs.holds(run.id):
            log.info("run #%s is %s: not started", run.id, Run.get_by_id(run.id).status)
            return Run.get_by_id(run.id)
        # From here every write of the run's work needs its lease, checked by the database in
        # the write's own transaction (vidpipe.store.fencing).
        with fenced(run.id, runs.this_owner()):
            try:
                return self._execute_claimed(run, manifest, mode, only_assets, stop, overwrite)
            except LeaseLost as exc:
                log.warning("run #%s: %s", run.id, exc)
                return Run.get_by_id(run.id)

    def _execute_claimed(
        self,
        run: Run,
        manifest: Manifest,
        mode: str,
        only_assets: list[int] | None,
        stop: StopToken | None,
        overwrite: bool,
    ) -> Run:
        run = Run.get_by_id(run.id)
        stop = stop or StopToken()
        ctx = StageContext(
            self.project,
            self.settings,
            manifest,
            run,
            mode=mode,
            only_assets=only_assets,
            overwrite=overwrite,
            assets_upto=None if only_assets is not None else assets_upto(run),
            stop=stop,
        )
        failures: list[str] = []
        early = None  # reverse prompting started while the faces are found
        try:
            with runs.lease_kept(run.id, on_lost=stop.shutdown):
                for row in stage_rows(run.id):
                    if row.status in (StageStatus.DONE, StageStatus.SKIPPED):
                        continue  # finished before an interruption: the run resumes after it
                    ctx.check_cancelled()
                    if row.stage == StageName.FACES and StageName.PROMPTS in self.stages:
                        early = self._start_early_prompts(ctx)
                    if row.stage == StageName.PROMPTS and early is not None:
                        early.finish()
                        early = None
                    failure = self._run_stage(ctx, row)
                    if failure:
                        failures.append(failure)
        except RunCancelled as exc:
            runs.finish(run.id, RunStatus.CANCELLED, str(exc))
            return Run.get_by_id(run.id)
        except RunInterrupted as exc:
            runs.interrupt(run.id, str(exc))
            return Run.get_by_id(run.id)
        except (LeaseLost, DatabaseUnreachable):
            raise  # nothing can be written: the caller resumes or leaves the run
        except BaseException as exc:  # Ctrl+C, SystemExit, a dying worker: never leave it RUNNING
            _record_interrupted(run, exc)
            raise
        finally:
            if early is not None:
                early.stop()
        self._settle_asset_states(ctx)
        if failures:
            runs.finish(run.id, RunStatus.FAILED, "; ".join(failures))
        else:
            runs.finish(run.id, RunStatus.DONE)
        return Run.get_by_id(run.id)

    def _start_early_prompts(self, ctx: StageContext):
        """Uploaded images' prompts need nothing from the face stage: start them now (see
        vidpipe.pipeline.stages.prompt_early); never let that stop the faces."""
        stage = self.stages[StageName.PROMPTS]
        start = getattr(stage, "start_early", None)
        if start is None:
            return None
        try:
            return start(ctx)
        except Exception:
            log.exception("could not start reverse prompting early; it runs in its turn")
            return None

    def _run_stage(self, ctx: StageContext, row: StageProgress) -> str | None:
        stage = self.stages.get(StageName(row.stage))
        progress = ProgressReporter(row, self.progress_interval, self.listener)
        if stage is None:
            progress.finish(StageStatus.SKIPPED, "not part of this engine's pipeline")
            return None
        reason = stage.unavailable(ctx)
        if reason:
            progress.finish(StageStatus.SKIPPED, reason)
            log.info("stage %s skipped: %s", row.stage, reason)
            return None
        try:
            summary = stage.run(ctx, progress)
        except (RunStopped, DatabaseUnreachable):
            raise  # not the stage's failure: the run stops, and resumes where it stopped
        except StageSkipped as exc:
            progress.finish(StageStatus.SKIPPED, str(exc))
            return None
        except VidpipeError as exc:
            progress.finish(StageStatus.FAILED, str(exc))
            return f"{row.stage}: {exc}"
        except Exception as exc:  # a bug or a library failure: record it, keep the other stages
            log.error("stage %s failed:\n%s", row.stage, traceback.format_exc())
            progress.finish(StageStatus.FAILED, f"{type(exc).__name__}: {exc}")
            return f"{row.stage}: {type(exc).__name__}: {exc}"
        progress.finish(StageStatus.DONE, summary)
        return None

    def _settle_asset_states(self, ctx: StageContext) -> None:
        query = Asset.update(state=AssetState.PROCESSED, updated_at=utcnow()).where(
            Asset.manifest == ctx.manifest, Asset.state == AssetState.PENDING
        )
        if ctx.only_assets is not None:
            query = query.where(
                (Asset.id.in_(ctx.only_assets)) | (Asset.source_asset.in_(ctx.only_assets))
            )
        if ctx.assets_upto is not None:
            query = query.where(ctx.started_with())  # later drops stay pending for their job
        query.execute()


def _record_interrupted(run: Run, exc: BaseException) -> None:
    """Best effort: the original exception must propagate even if the database is gone too."""
    try:
        runs.interrupt(run.id, f"interrupted ({type(exc).__name__}); resumes when run again")
    except Exception:
        log.exception("could not record run %s as interrupted", run.id)


def process_project(
    project: Project,
    settings: Settings,
    mode: RunMode | str = RunMode.MISSING,
    manifest_names: list[str] | None = None,
    listener: Listener | None = None,
    on_run: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Process every manifest (or the named ones) in turn; returns their runs."""
    engine = ManifestingEngine(project, settings, listener=listener)
    query = Manifest.select().order_by(Manifest.name)
    if manifest_names:
        query = query.where(Manifest.name.in_(manifest_names))
    runs = []
    for manifest in query:
        run = create_run(
            RunKind.PROCESS, manifest_id=manifest.id, mode=mode, stages=list(engine.stages)
        )
        if on_run:
            on_run(run)
        runs.append(engine.process_manifest(manifest, mode, run=run))
    return runs
