"""What one line of the asset grid shows, loaded in bulk (a handful of queries, not one per row).

Everything here is blocking and runs in worker threads; the UI only receives finished rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from peewee import JOIN, fn

from vidpipe.store.models import (
    Asset,
    AssetState,
    Author,
    Character,
    FieldEdit,
    Manifest,
    Source,
)

#: Row keys of files seen in the folder but not in the database yet.
#: Long text is read into rows to this many characters at most (one more marks it as cut): a
#: database from someone else may hold a prompt of 50 MB, which no view can lay out.
SHOWN_CHARS = 20_000
UNTRACKED_PREFIX = "file:"
STATE_UNTRACKED = "not ingested"


@dataclass
class AssetRow:
    key: str  # DataTable row key: the asset id, or "file:<relative path>" for an untracked file
    asset_id: int | None
    tag: str
    name: str
    asset_type: str
    source: str
    parent: str  # name of the source asset (extracted) or ""
    detection_class: str
    detection_confidence: float | None
    face_group: int | None
    duplicate_of: str
    quality: float | None
    state: str
    stage_errors: dict = field(default_factory=dict)
    error: str | None = None
    reverse_prompt: str = ""
    visual_description: str = ""
    description: str = ""
    file_path: str = ""
    reviewed: bool = False
    edited: frozenset[str] = frozenset()  # fields a person wrote last
    has_suggestion: bool = False
    sort_order: int = 0
    # Where the asset stands in the manifest: its image's sort order and path, the image before
    # its crops, crops by confidence (the order tags are numbered in, vidpipe.pipeline.tags).
    manifest_order: tuple = ()
    updated_at: object = None
    is_face: bool = False
    manifest: str = ""  # the manifest's name: manifest/TAG names the asset project-wide
    character: str = ""  # the handle of the character it shows (a face, closeup, person crop)

    @property
    def tracked(self) -> bool:
        return self.asset_id is not None

    @property
    def has_error(self) -> bool:
        return self.state == AssetState.ERROR or bool(self.stage_errors)


def untracked_row(relative: str) -> AssetRow:
    path = Path(relative)
    from vidpipe.pipeline.ingest import type_hint

    hint = type_hint(path)
    return AssetRow(
        key=UNTRACKED_PREFIX + relative,
        asset_id=None,
        tag="",
        name=path.stem,
        asset_type=hint.value if hint else "UNKNOWN",
        source=Source.UPLOADED,
        parent="",
        detection_class="",
        detection_confidence=None,
        face_group=None,
        duplicate_of="",
        quality=None,
        state=STATE_UNTRACKED,
        file_path=relative,
    )


def edited_fields(asset_ids: list[int] | None = None) -> dict[int, set[str]]:
    """For each asset, the fields whose current value a person wrote: one grouped query."""
    latest = (
        FieldEdit.select(fn.MAX(FieldEdit.id).alias("mid"))
        .where(FieldEdit.applied == True, FieldEdit.undone == False)  # noqa: E712
        .group_by(FieldEdit.asset, FieldEdit.field)
    )
    if asset_ids is not None:
        latest = latest.where(FieldEdit.asset.in_(asset_ids))
    query = FieldEdit.select(FieldEdit.asset, FieldEdit.field).where(
        FieldEdit.id.in_(latest), FieldEdit.author == Author.USER
    )
    out: dict[int, set[str]] = {}
    for asset_id, name in query.tuples():
        out.setdefault(asset_id, set()).add(name)
    return out


def assets_with_suggestions(asset_ids: list[int] | None = None) -> set[int]:
    query = FieldEdit.select(FieldEdit.asset).distinct().where(FieldEdit.applied == False)  # noqa: E712
    if asset_ids is not None:
        query = query.where(FieldEdit.asset.in_(asset_ids))
    return {row[0] for row in query.tuples()}


def _shown(text_field):
    return fn.SUBSTR(text_field, 1, SHOWN_CHARS + 1)


def shown_text(value: str) -> str:
    """``value`` as a view shows it: cut, with a note, where the row read was cut."""
    if len(value) <= SHOWN_CHARS:
        return value
    return (
        value[:SHOWN_CHARS] + f"\n… (longer than {SHOWN_CHARS:,} characters; the rest is not shown)"
    )


def _query(manifest_id: int | None):
    parent = Asset.alias("parent")
    primary = Asset.alias("primary")
    query = (
        Asset.select(
            Asset.id,
            Asset.manifest_tag,
            Asset.name,
            Asset.asset_type,
            Asset.source,
            parent.name.alias("parent_name"),
            Asset.detection_class,
            Asset.detection_confidence,
            Asset.face_group,
            primary.name.alias("primary_name"),
            Asset.quality_score,
            Asset.state,
            Asset.stage_errors,
            _shown(Asset.error),
            _shown(Asset.reverse_prompt),
            _shown(Asset.visual_description),
            _shown(Asset.description),
            Asset.file_path,
            Asset.reviewed,
            Asset.sort_order,
            Asset.updated_at,
            Asset.is_face_crop,
            fn.COALESCE(parent.sort_order, Asset.sort_order),
            fn.COALESCE(parent.file_path, Asset.file_path),
            Manifest.name,
            Character.handle,
        )
        .join(Manifest, on=(Asset.manifest == Manifest.id))
        .switch(Asset)
        .join(Character, JOIN.LEFT_OUTER, on=(Asset.character == Character.id))
        .switch(Asset)
        .join(parent, JOIN.LEFT_OUTER, on=(Asset.source_asset == parent.id))
        .switch(Asset)
        .join(primary, JOIN.LEFT_OUTER, on=(Asset.duplicate_of == primary.id))
        .where(Asset.state != AssetState.REMOVED)
    )
    if manifest_id is not None:
        query = query.where(Asset.manifest == manifest_id)
    return query


def _to_rows(records, edited: dict[int, set[str]], suggested: set[int]) -> list[AssetRow]:
    rows = []
    for (
        asset_id,
        tag,
        name,
        asset_type,
        source,
        parent_name,
        det_class,
        det_conf,
        group,
        primary_name,
        quality,
        state,
        stage_errors,
        error,
        prompt,
        visual,
        description,
        file_path,
        reviewed,
        sort_order,
        updated_at,
        is_face,
        root_order,
        root_path,
        manifest,
        handle,
    ) in records:
        rows.append(
            AssetRow(
                key=str(asset_id),
                asset_id=asset_id,
                tag=tag or "",
                name=name,
                asset_type=asset_type,
                source=source,
                parent=parent_name or "",
                detection_class=det_class or "",
                detection_confidence=det_conf,
                face_group=group,
                duplicate_of=primary_name or "",
                quality=quality,
                state=state,
                stage_errors=stage_errors or {},
                error=error,
                reverse_prompt=prompt or "",
                visual_description=visual or "",
                description=description or "",
                file_path=file_path,
                reviewed=bool(reviewed),
                edited=frozenset(edited.get(asset_id, ())),
                has_suggestion=asset_id in suggested,
                sort_order=sort_order or 0,
                updated_at=updated_at,
                is_face=bool(is_face),
                manifest_order=(
                    root_order or 0,
                    root_path,
                    source != "uploaded",
                    -(det_conf or 0.0),
                    file_path,
                ),
                manifest=manifest,
                character=handle or "",
            )
        )
    return rows


def load_rows(manifest_id: int | None) -> list[AssetRow]:
    """Every asset of a manifest (None: of the project) as grid rows, in three queries."""
    records = list(
        _query(manifest_id).order_by(Asset.sort_order, Asset.file_path, Asset.id).tuples()
    )
    ids = None if manifest_id is None else [r[0] for r in records]
    if ids is not None and len(ids) > 900:
        ids = None  # a big IN list costs more than scanning the edit history once
    return _to_rows(records, edited_fields(ids), assets_with_suggestions(ids))


def load_rows_by_id(asset_ids: list[int]) -> list[AssetRow]:
    if not asset_ids:
        return []
    records = list(_query(None).where(Asset.id.in_(asset_ids)).tuples())
    return _to_rows(records, edited_fields(asset_ids), assets_with_suggestions(asset_ids))


@dataclass(frozen=True)
class GridSignature:
    """Cheap summary of a manifest's rows: when it changes, something in the grid changed."""

    count: int
    max_updated: object
    max_edit_id: int


def grid_signature(manifest_id: int | None) -> GridSignature:
    query = Asset.select(fn.COUNT(Asset.id), fn.MAX(Asset.updated_at)).where(
        Asset.state != AssetState.REMOVED
    )
    if manifest_id is not None:
        query = query.where(Asset.manifest == manifest_id)
    count, max_updated = query.tuples().get()
    max_edit = FieldEdit.select(fn.MAX(FieldEdit.id)).scalar() or 0
    return GridSignature(count or 0, max_updated, max_edit)


def changed_asset_ids(manifest_id: int | None, since: GridSignature) -> list[int]:
    """Assets updated or edited since ``since`` (a little overlap is harmless: rows are refetched)."""
    query = Asset.select(Asset.id)
    if since.max_updated is not None:
        query = query.where(Asset.updated_at >= since.max_updated)
    if manifest_id is not None:
        query = query.where(Asset.manifest == manifest_id)
    ids = {row[0] for row in query.tuples()}
    edits = FieldEdit.select(FieldEdit.asset).where(FieldEdit.id > since.max_edit_id)
    ids.update(row[0] for row in edits.tuples())
    return sorted(ids)


def tracked_paths() -> set[str]:
    """Relative paths of every uploaded file the database knows (any state)."""
    return {
        row[0]
        for row in Asset.select(Asset.file_path).where(Asset.source == Source.UPLOADED).tuples()
    }


def ingested_paths(relatives: list[str]) -> set[str]:
    """Which of these relative paths the database knows as uploaded files (any state)."""
    found: set[str] = set()
    for start in range(0, len(relatives), 500):  # SQLite's bound-variable limit
        found.update(
            row[0]
            for row in Asset.select(Asset.file_path)
            .where(
                Asset.source == Source.UPLOADED, Asset.file_path.in_(relatives[start : start + 500])
            )
            .tuples()
        )
    return found


def manifest_id_for_folder(folder: str) -> int | None:
    return Manifest.select(Manifest.id).where(Manifest.folder == folder).scalar()
