"""A snapshot of a project's state, shared by `vidpipe status`, `doctor` and the front ends."""

from __future__ import annotations

from peewee import fn

from vidpipe.config.settings import Settings
from vidpipe.store.models import Asset, AssetState, Manifest, Source
from vidpipe.store.project import Project
from vidpipe.prompting import ledger
from vidpipe.pipeline.runs import latest_run, stage_rows
from vidpipe.pipeline.stages.base import STAGE_TITLES, StageName


def run_summary(run) -> dict:
    return {
        "id": run.id,
        "kind": run.kind,
        "mode": run.mode,
        "status": run.status,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "usage": ledger.totals(run_id=run.id),
        "stages": [
            {
                "stage": row.stage,
                "title": STAGE_TITLES[StageName(row.stage)],
                "status": row.status,
                "done": row.done,
                "total": row.total,
                "errors": row.errors,
                "message": row.message,
                "current_item": row.current_item,
            }
            for row in stage_rows(run.id)
        ],
    }


def needs_a_look():
    """The condition for an asset a person should look at: its input is unusable (ERROR), or a
    stage failed on it (``Asset.stage_errors``). The one definition of a project's errors, for
    `vidpipe status` and the TUI alike."""
    return (Asset.state == AssetState.ERROR) | (
        (fn.LENGTH(Asset.stage_errors) > 2)
        & Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR])
    )


def error_counts() -> dict[int, int]:
    """Manifest id -> how many of its assets need a look."""
    return dict(
        Asset.select(Asset.manifest, fn.COUNT(Asset.id))
        .where(needs_a_look())
        .group_by(Asset.manifest)
        .tuples()
    )


def _error_entry(asset: Asset) -> dict:
    if asset.state == AssetState.ERROR:
        return {"file": asset.file_path, "error": asset.error}
    return {
        "file": asset.file_path,
        "error": "; ".join(
            f"{stage}: {message}" for stage, message in sorted(asset.stage_errors.items())
        ),
    }


def project_status(project: Project, settings: Settings) -> dict:
    manifests = []
    for manifest in Manifest.select().order_by(Manifest.name):
        by_state = dict(
            Asset.select(Asset.state, fn.COUNT(Asset.id))
            .where(Asset.manifest == manifest)
            .group_by(Asset.state)
            .tuples()
        )
        by_source = dict(
            Asset.select(Asset.source, fn.COUNT(Asset.id))
            .where(Asset.manifest == manifest, Asset.state != AssetState.REMOVED)
            .group_by(Asset.source)
            .tuples()
        )
        # Unusable inputs first, then assets a stage failed on.
        errors = [
            _error_entry(a)
            for a in Asset.select()
            .where(Asset.manifest == manifest, needs_a_look())
            .order_by(Asset.state != AssetState.ERROR, Asset.file_path)
        ]
        run = latest_run(manifest.id)
        reviewed = [
            {
                "file": a.file_path,
                "tag": a.manifest_tag,
                "by": a.reviewed_by,
                "at": a.reviewed_at.isoformat(timespec="seconds") if a.reviewed_at else None,
            }
            for a in Asset.select(
                Asset.file_path, Asset.manifest_tag, Asset.reviewed_by, Asset.reviewed_at
            )
            .where(
                Asset.manifest == manifest,
                Asset.state != AssetState.REMOVED,
                Asset.reviewed == True,  # noqa: E712
            )
            .order_by(Asset.file_path)
        ]
        manifests.append(
            {
                "name": manifest.name,
                "folder": manifest.folder,
                "assets": sum(v for k, v in by_state.items() if k != AssetState.REMOVED),
                "assets_by_state": by_state,
                "uploaded": by_source.get(Source.UPLOADED, 0),
                "extracted": by_source.get(Source.EXTRACTED, 0),
                "contact_sheets": manifest.contact_sheets or [],
                "errors": errors,
                "reviewed": len(reviewed),  # of "assets"
                "reviewed_assets": reviewed,
                "latest_run": run_summary(run) if run else None,
            }
        )
    return {
        "project": project.name,
        "root": str(project.root),
        "manifests": manifests,
        "usage": ledger.totals(),
        "notes": [],
    }
