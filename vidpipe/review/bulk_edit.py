"""Applying an edited export back to the project (``vidpipe edit PROJECT --from FILE.json``).

People with hundreds of assets edit the manifest JSON with jq or an editor and apply it back.
Every editable field whose value differs is written as that person's edit, through
:func:`vidpipe.store.edits.edit_field`, so the history and undo are the same as for an edit in the TUI.

An asset is found by the export's ``id`` (a retag renumbers tags, names and files change), checked
against its ``file``; without an id, by its file. A field that changed in the project after
the export was taken (an edit newer than the record's ``revision``) is not overwritten with the
export's older text unless forced: it is reported as a conflict.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vidpipe.store.edits import edit_field, in_stored_range, validated
from vidpipe.errors import EditError
from vidpipe.review.export import asset_record
from vidpipe.store.models import Asset, AssetState, FieldEdit, db
from vidpipe.store.safe_io import UnsafePath, read_limited
from vidpipe.printable import printable, quoted

#: Export key -> the asset field a person edits through it (every one of edits.PERSON_FIELDS).
EDITABLE_KEYS = {
    "name": "name",
    "type": "asset_type",
    "user_tags": "user_tags",
    "sort_order": "sort_order",
    "reverse_prompt": "reverse_prompt",
    "visual_description": "visual_description",
    "description": "description",
}

#: Keys that identify a record rather than describe the asset.
IDENTITY_KEYS = {"id", "revision"}


@dataclass
class FieldChange:
    asset: str  # label of the asset, for the report
    field: str
    old: Any
    new: Any


@dataclass
class Problem:
    where: str  # the asset's label, or the record's place in the file
    reason: str


@dataclass
class BulkEditReport:
    records: int = 0
    changed: list[FieldChange] = field(default_factory=list)
    unmatched: list[Problem] = field(default_factory=list)
    invalid: list[Problem] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)  # read-only key -> records where it differs

    @property
    def complete(self) -> bool:
        """True when every difference found was applied."""
        return not (self.unmatched or self.invalid or self.conflicts)

    @property
    def changed_assets(self) -> int:
        return len({change.asset for change in self.changed})


#: Far larger than the export of any real project (a record is about a kilobyte).
MAX_EXPORT_FILE_BYTES = 256 * 1024 * 1024


def load_export_file(path: Path) -> Any:
    try:  # a regular file only (a FIFO would block for ever), of bounded size
        raw = read_limited(path, MAX_EXPORT_FILE_BYTES, follow_symlinks=True)
    except UnsafePath as exc:
        raise EditError(printable(str(exc))) from None
    except OSError as exc:
        raise EditError(f"cannot read {printable(path)}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EditError(f"{printable(path)} is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise EditError(f"{printable(path)} nests deeper than any export does; not read") from None
    except json.JSONDecodeError as exc:
        raise EditError(
            f"{printable(path)} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None


def records_of(data: Any) -> Iterator[tuple[str, Any]]:
    """(place in the file, record) for every asset record: a whole export, or a bare list of
    records (what ``jq '.manifests[0].assets'`` leaves)."""
    if isinstance(data, list):
        for index, record in enumerate(data):
            yield f"[{index}]", record
        return
    manifests = data.get("manifests") if isinstance(data, dict) else None
    if not isinstance(manifests, list):
        raise EditError(
            'not a vidpipe export: expected {"manifests": [...]} (what `vidpipe '
            "export` writes) or a list of asset records"
        )
    for m_index, manifest in enumerate(manifests):
        assets = manifest.get("assets") if isinstance(manifest, dict) else None
        if not isinstance(assets, list):
            raise EditError(f'manifests[{m_index}] has no "assets" list')
        for a_index, record in enumerate(assets):
            yield f"manifests[{m_index}].assets[{a_index}]", record


def _label(asset: Asset) -> str:
    tag = f"{asset.manifest_tag} " if asset.manifest_tag else ""
    return printable(f"{tag}{asset.name} (id {asset.id})", one_line=True)


def _asset_by_file(file: str) -> Asset | None:
    found = list(
        Asset.select()
        .where(Asset.file_path == file)
        .order_by(Asset.state == AssetState.REMOVED, Asset.id)
    )
    return found[0] if found else None


def match_record(record: dict) -> tuple[Asset | None, str | None]:
    """(asset, None) or (None, why no asset can safely be said to be this record's)."""
    asset_id, file = record.get("id"), record.get("file")
    if isinstance(asset_id, bool) or not isinstance(asset_id, (int, type(None))):
        return None, f"id {quoted(asset_id)} is not a number"
    if asset_id is not None and not in_stored_range(asset_id):
        return None, f"id {quoted(asset_id)} is out of range"
    if file is not None and not isinstance(file, str):
        return None, "file is not text"
    if asset_id is not None:
        asset = Asset.get_or_none(Asset.id == asset_id)
        if asset is not None and (file is None or asset.file_path == file):
            return asset, None
        holder = _asset_by_file(file) if file is not None else None
        if asset is None and holder is not None:
            return holder, None  # another database's ids, but the file is known here
        if asset is None:
            return None, f"no asset with id {asset_id} or file {quoted(file)}"
        if holder is not None and holder.id != asset.id:
            return None, (
                f"id {asset_id} is {quoted(asset.file_path)} here but "
                f"{quoted(file)} is asset {holder.id}: the export seems to "
                "come from another project database"
            )
        return asset, None  # the file was renamed or moved since the export
    if file is None:
        return None, "the record has neither an id nor a file"
    asset = _asset_by_file(file)
    if asset is None:
        return None, f"no asset with file {quoted(file)}"
    return asset, None


def _newer_edit(asset_id: int, field_name: str, revision: int) -> FieldEdit | None:
    newer = list(
        FieldEdit.select()
        .where(
            FieldEdit.asset == asset_id,
            FieldEdit.field == field_name,
            FieldEdit.applied == True,  # noqa: E712
            FieldEdit.id > revision,
        )
        .order_by(FieldEdit.id.desc())
        .limit(1)
    )
    return newer[0] if newer else None


def _current_record(asset: Asset) -> dict:
    linked = [i for i in (asset.source_asset_id, asset.duplicate_of_id) if i]
    by_id = {a.id: a for a in Asset.select().where(Asset.id.in_(linked))} if linked else {}
    return asset_record(asset, by_id)


def _apply_record(
    record: dict, asset: Asset, report: BulkEditReport, force: bool, dry_run: bool
) -> None:
    label = _label(asset)
    revision = record.get("revision")
    revision = (
        revision
        if isinstance(revision, int)
        and not isinstance(revision, bool)
        and in_stored_range(revision)
        else None
    )
    wanted: dict[str, Any] = {}
    for key, field_name in EDITABLE_KEYS.items():
        if key not in record:
            continue
        current = getattr(asset, field_name)
        if field_name == "user_tags":
            current = current or []
        if record[key] == current:
            continue  # untouched, whatever it holds (a file name's control characters too)
        try:
            value = validated(field_name, record[key])
        except EditError as exc:
            report.invalid.append(Problem(label, f"{key}: {exc}"))
            continue
        if value == current:
            continue
        newer = _newer_edit(asset.id, field_name, revision) if revision is not None else None
        if newer is not None and not force:
            report.conflicts.append(
                Problem(
                    label,
                    (
                        f"{key} changed after the export (edit #{newer.id} by {newer.author}); "
                        "kept the project's value (--force applies the export's)"
                    ),
                )
            )
            continue
        wanted[field_name] = value
    current_record = _current_record(asset)
    for key, value in record.items():
        if key in EDITABLE_KEYS or key in IDENTITY_KEYS:
            continue
        if current_record.get(key, value) != value:
            report.ignored[key] += 1
    if not wanted:
        return
    if dry_run:
        report.changed += [
            FieldChange(label, name, getattr(asset, name), value) for name, value in wanted.items()
        ]
        return
    with db.atomic():  # an asset's fields land together
        for field_name, value in wanted.items():
            edit = edit_field(asset.id, field_name, value)
            if edit is not None:
                report.changed.append(FieldChange(label, field_name, edit.old_value, value))


def apply_edited_export(data: Any, force: bool = False, dry_run: bool = False) -> BulkEditReport:
    """Write every editable field that differs between ``data`` (an edited export) and the
    project, as a person's edit. Nothing is written for a record that cannot be matched."""
    report = BulkEditReport()
    seen: dict[int, str] = {}
    for where, record in list(records_of(data)):
        report.records += 1
        if not isinstance(record, dict):
            report.unmatched.append(Problem(where, "not an asset record (a JSON object)"))
            continue
        asset, why = match_record(record)
        if asset is None:
            report.unmatched.append(Problem(where, why))
            continue
        if asset.id in seen:
            report.unmatched.append(
                Problem(
                    where,
                    f"asset {asset.id} is already edited by "
                    f"{seen[asset.id]}; this record is ignored",
                )
            )
            continue
        seen[asset.id] = where
        _apply_record(record, asset, report, force, dry_run)
    return report
