"""vidpipe reprocess PROJECT ASSET [--overwrite]."""

from __future__ import annotations

from pathlib import Path

from vidpipe.review.asset_ref import resolve_asset
from vidpipe.store.models import Asset, StageProgress


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reprocess", help="rerun detection and reverse prompting for one asset, then the tags"
    )
    p.add_argument("project", type=Path)
    p.add_argument("asset", help="asset id, tag (CHAR_01 or manifest/CHAR_01) or file path")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace fields a person edited too (the old text stays in the history)",
    )
    p.set_defaults(handler=cmd_reprocess)


def cmd_reprocess(args) -> int:
    from vidpipe.store.edits import REPROCESS_FIELDS
    from vidpipe.pipeline.engine import ManifestingEngine
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.stages.base import STAGE_TITLES, StageName

    with open_project(args.project) as session:
        asset = resolve_asset(session.project, args.asset)
        print(f"reprocessing asset {asset.id} {asset.name} ({asset.file_path})")
        engine = ManifestingEngine(session.project, session.settings)
        run = engine.reprocess_asset(asset.id, overwrite=args.overwrite)
        for row in (
            StageProgress.select()
            .where(StageProgress.run == run.id)
            .order_by(StageProgress.position)
        ):
            message = f" — {row.message}" if row.message else ""
            print(f"  {STAGE_TITLES[StageName(row.stage)]:<18} {row.status:<8}{message}")
        after = Asset.get_by_id(asset.id)
        for field in REPROCESS_FIELDS:
            value = getattr(after, field)
            text = value if not isinstance(value, str) or len(value) < 70 else value[:67] + "..."
            print(f"  {field:<21} {text}")
        if run.status != "done":
            print(f"vidpipe: error: run {run.status}: {run.error}")
            return 1
    return 0
