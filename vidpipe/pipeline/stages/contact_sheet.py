"""Stage 1: the contact sheet of a manifest's uploaded assets."""

from __future__ import annotations

import hashlib
import re

from vidpipe.pipeline.contact_sheet import Layout, SheetEntry, write_pages
from vidpipe.errors import ImageError
from vidpipe.store.models import Manifest, Source, utcnow
from vidpipe.pipeline.stages.base import Stage, StageContext, StageName


def sheet_stem(manifest: Manifest) -> str:
    # Bounded: a folder name may be 255 bytes, and the page suffix must still fit.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", manifest.name).strip("_")[:80] or "manifest"
    return f"{manifest.id:03d}-{slug}"


def _entry(ctx: StageContext, number: int, asset) -> SheetEntry:
    try:
        return SheetEntry(
            number, asset.name, asset.asset_type, ctx.project.absolute(asset.file_path)
        )
    except ImageError as exc:
        return SheetEntry(number, asset.name, asset.asset_type, None, str(exc))


class ContactSheetStage(Stage):
    name = StageName.CONTACT_SHEET

    def run(self, ctx: StageContext, progress) -> str:
        assets = ctx.assets(source=Source.UPLOADED)
        layout = Layout(
            ctx.settings.contact_sheet_columns,
            ctx.settings.contact_sheet_thumb_px,
            ctx.settings.contact_sheet_label_px,
            ctx.settings.contact_sheet_rows_per_page,
        )
        entries = [_entry(ctx, number, a) for number, a in enumerate(assets, start=1)]
        fingerprint = hashlib.sha1(
            repr(
                (
                    layout,
                    [(e.number, e.name, e.type, a.content_hash) for e, a in zip(entries, assets)],
                )
            ).encode()
        ).hexdigest()
        manifest = Manifest.get_by_id(ctx.manifest.id)
        try:
            existing = [ctx.project.absolute(p) for p in manifest.contact_sheets or []]
        except ImageError:  # a stored page name leading outside: render the pages again
            existing = []
        if (
            not ctx.force
            and manifest.contact_sheet_fingerprint == fingerprint
            and existing
            and all(p.exists() for p in existing)
        ):
            progress.start(len(existing))
            progress.advance(len(existing))
            return f"{len(existing)} page(s) up to date"

        pages = -(-len(entries) // layout.per_page) or 1
        progress.start(pages)
        written = []
        stem = sheet_stem(manifest)
        for path in write_pages(
            entries,
            layout,
            manifest.name,
            ctx.project.contact_sheets_dir,
            stem,
            ctx.settings.max_image_pixels,
            within=ctx.project.state_dir,
            images_within=ctx.project.root,
        ):
            written.append(ctx.project.relative(path))
            progress.advance(1, item=path.name)
            ctx.check_cancelled()
        Manifest.update(
            contact_sheets=written, contact_sheet_fingerprint=fingerprint, updated_at=utcnow()
        ).where(Manifest.id == manifest.id).execute()
        return f"{len(written)} page(s), {len(entries)} asset(s)"
