"""A snapshot of a project's state, shared by `vidpipe status`, `doctor` and the front ends."""

from __future__ import annotations

from peewee import fn

from vidpipe.config import Settings
from vidpipe.models import Asset, AssetState, Manifest, Source
from vidpipe.project import Project
from vidpipe.prompting import ledger
from vidpipe.runs import latest_run, stage_rows
from vidpipe.stages.base import STAGE_TITLES, StageName


def run_summary(run) -> dict:
    return {
        "id": run.id, "kind": run.kind, "mode": run.mode, "status": run.status,
        "error": run.error, "created_at": run.created_at, "started_at": run.started_at,
        "finished_at": run.finished_at,
        "usage": ledger.totals(run_id=run.id),
        "stages": [{
            "stage": row.stage, "title": STAGE_TITLES[StageName(row.stage)],
            "status": row.status, "done": row.done, "total": row.total, "errors": row.errors,
            "message": row.message, "current_item": row.current_item,
        } for row in stage_rows(run.id)],
    }


def project_status(project: Project, settings: Settings) -> dict:
    manifests = []
    for manifest in Manifest.select().order_by(Manifest.name):
        by_state = dict(Asset.select(Asset.state, fn.COUNT(Asset.id))
                        .where(Asset.manifest == manifest).group_by(Asset.state).tuples())
        by_source = dict(Asset.select(Asset.source, fn.COUNT(Asset.id))
                         .where(Asset.manifest == manifest, Asset.state != AssetState.REMOVED)
                         .group_by(Asset.source).tuples())
        errors = [{"file": a.file_path, "error": a.error} for a in
                  Asset.select().where(Asset.manifest == manifest,
                                       Asset.state == AssetState.ERROR).order_by(Asset.file_path)]
        run = latest_run(manifest.id)
        manifests.append({
            "name": manifest.name,
            "folder": manifest.folder,
            "assets": sum(v for k, v in by_state.items() if k != AssetState.REMOVED),
            "assets_by_state": by_state,
            "uploaded": by_source.get(Source.UPLOADED, 0),
            "extracted": by_source.get(Source.EXTRACTED, 0),
            "contact_sheets": manifest.contact_sheets or [],
            "errors": errors,
            "latest_run": run_summary(run) if run else None,
        })
    return {"project": project.name, "root": str(project.root), "manifests": manifests,
            "usage": ledger.totals(), "notes": []}
