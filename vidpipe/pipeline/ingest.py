"""Turning files in the project folder into Asset rows.

Identity is the content hash: the same content twice in a manifest is one asset, and a file that
was renamed or moved keeps its asset (and every edit made to it). Files that cannot be used become
assets in the error state with a specific message: never a crash, never a silent skip.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import logging
import math
import os
import shutil
import stat as stat_module
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Iterable, Iterator

from peewee import chunked

from vidpipe import imaging
from vidpipe.config.settings import Settings
from vidpipe.pipeline import folder_walk
from vidpipe.store.database import INGEST_LOCK_KEY, serialize_writers
from vidpipe.errors import ImageError, ProjectError, UnsafeStoredPath
from vidpipe.store.models import (
    Asset,
    AssetState,
    AssetType,
    Manifest,
    Source,
    StageMark,
    db,
    utcnow,
)
from vidpipe.store.project import STATE_DIRNAME, Project
from vidpipe.store.safe_io import UnsafePath, describe_kind, open_inside, open_regular, write_new

log = logging.getLogger(__name__)

#: Paths decided per write transaction by :func:`ingest_files`: large enough that SQL building
#: and commits are a small part of the cost, small enough that the first rows of a burst appear
#: early and a person's edit never waits long for the write lock.
INGEST_BATCH = 64

_TEMP_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", ".swp", "~")

FOLDER_TYPE_HINTS = {
    AssetType.CHARACTER: {"characters", "character", "chars", "char", "people", "cast", "persons"},
    AssetType.OBJECT: {"props", "prop", "objects", "object", "items", "vehicles"},
    AssetType.ENVIRONMENT: {
        "locations",
        "location",
        "environments",
        "environment",
        "sets",
        "backgrounds",
        "places",
        "env",
        "envs",
    },
    AssetType.STYLE: {"styles", "style", "moodboard", "moodboards"},
}
PREFIX_TYPE_HINTS = {
    AssetType.CHARACTER: ("char_", "character_", "char-", "character-"),
    AssetType.OBJECT: ("prop_", "obj_", "object_", "prop-", "obj-"),
    AssetType.ENVIRONMENT: ("env_", "loc_", "location_", "env-", "loc-", "location-"),
    AssetType.STYLE: ("style_", "style-"),
}


class IngestStatus(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # same path, new content: stages redo it, edits are kept
    MOVED = "moved"  # renamed or moved: same asset, new path
    DUPLICATE = "duplicate"  # same content already in this manifest
    RESTORED = "restored"  # a removed asset's file came back
    ERROR = "error"


@dataclass(frozen=True)
class IngestResult:
    asset: Asset
    status: IngestStatus


def is_ignored_name(name: str) -> bool:
    """Hidden files, editor/download temporaries and rsync's ``.name.XXXXXX`` partials."""
    return name.startswith(".") or name.lower().endswith(_TEMP_SUFFIXES)


def input_relative(project: Project, path: Path | str) -> str | None:
    """``path`` relative to PROJECT (posix) when it lies where inputs live: inside PROJECT, not
    in .vidpipe/, no hidden or temporary component. None otherwise. Names only: the file itself
    (its type, whether it exists) is not looked at. The one rule the daemon's watcher and the
    TUI's use; :func:`iter_input_files` walks by the same rule."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(project.root)
    except ValueError:
        return None
    parts = relative.parts
    if not parts or parts[0] == STATE_DIRNAME or any(is_ignored_name(p) for p in parts):
        return None
    return relative.as_posix()


def content_hash(path: Path, within: Path | None = None) -> str:
    """Hash of a regular file's bytes (UnsafePath for a FIFO, device, socket or folder: those
    are never read, a FIFO would block for ever; and for a file not really in ``within``)."""
    digest = hashlib.blake2b(digest_size=20)
    with open_regular(path) if within is None else open_inside(path, within) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def type_hint(relative: Path) -> AssetType | None:
    """The asset type suggested by a folder name or file-name prefix, if any."""
    for part in reversed(relative.parts[:-1]):
        for asset_type, names in FOLDER_TYPE_HINTS.items():
            if part.lower() in names:
                return asset_type
    stem = relative.name.lower()
    for asset_type, prefixes in PREFIX_TYPE_HINTS.items():
        if stem.startswith(prefixes):
            return asset_type
    return None


def manifest_folder(project: Project, path: Path) -> str:
    """ "" for files directly in PROJECT, else the name of the direct subfolder they are under.

    Decided by where the file (or the symlink) lies, never by where a symlink points."""
    relative = Path(_relative_unresolved(project, path))
    return relative.parts[0] if len(relative.parts) > 1 else ""


def manifest_for(project: Project, folder: str) -> Manifest:
    name = folder or project.name
    manifest, _ = Manifest.get_or_create(name=name, defaults={"folder": folder})
    return manifest


def iter_input_files(
    project: Project, under: Path | None = None, on_skip: Callable[[Path, str], None] | None = None
) -> Iterator[Path]:
    """Every candidate input file under PROJECT (or its folder ``under``), never inside
    .vidpipe/ or hidden folders.

    Symlinked folders are not descended into; symlinked files are yielded and checked by
    :func:`ingest_file`, which refuses those that point outside the project. Entries that can
    never be ingested (a name that is not UTF-8, a folder that cannot be read, a symlinked
    folder) are passed to ``on_skip`` with the reason (default: logged) and the walk goes on.
    """
    skip = on_skip or _log_skip
    top = Path(under or project.root)
    if under is not None and not _real_path_inside(project, top):
        skip(top, "folder leads outside the project folder (a symlink?); not scanned")
        return
    too_deep = (
        f"more than {folder_walk.MAX_FOLDER_DEPTH} folders deep; not scanned "
        "(move its images higher up)"
    )
    for folder, dirnames, filenames in folder_walk.walk(
        str(top),
        on_error=lambda exc: _walk_error(exc, skip),
        on_too_deep=lambda path: skip(Path(path), too_deep),
    ):
        kept = []
        for name in sorted(dirnames):
            if is_ignored_name(name) or name == STATE_DIRNAME:
                continue
            path = Path(folder) / name
            problem = unusable_name(name) or (
                "symlinked folder; not followed (scan its target as a project of its own)"
                if path.is_symlink()
                else None
            )
            if problem:
                skip(path, problem)
            else:
                kept.append(name)
        dirnames[:] = kept
        for filename in sorted(filenames):
            if is_ignored_name(filename):
                continue
            path = Path(folder) / filename
            if not imaging.is_image_name(path):
                continue
            problem = unusable_name(filename)
            if problem:
                skip(path, problem)
            else:
                yield path


def unusable_name(name: str) -> str | None:
    """Why a file name cannot be stored (None when it can): names are kept as UTF-8 text."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename it to ingest it"
    return None


def display_path(path: Path) -> str:
    """``path`` printable whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _log_skip(path: Path, reason: str) -> None:
    log.info("skipped %s: %s", display_path(path), reason)


def _walk_error(exc: OSError, skip: Callable[[Path, str], None]) -> None:
    skip(Path(exc.filename or "?"), f"cannot list folder: {exc.strerror or exc}")


def _real_path_inside(project: Project, path: Path) -> bool:
    """``path``, every symlink on the way resolved, is inside PROJECT and not in .vidpipe/."""
    try:
        real = Path(os.path.realpath(path))
        relative = real.relative_to(project.root)
    except (ValueError, OSError):
        return False
    return not relative.parts or relative.parts[0] != STATE_DIRNAME


def _inside(project: Project, path: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(project.root)
        return True
    except (ValueError, OSError):
        return False


def _relative_unresolved(project: Project, path: Path) -> str:
    # The link's own location (not its target) identifies the asset.
    return Path(os.path.abspath(path)).relative_to(project.root).as_posix()


def _checked(project: Project, path: Path) -> tuple[Path, str]:
    """The absolute path and its project-relative name; refuses what is never ingested."""
    path = Path(os.path.abspath(path))
    if not str(path).startswith(str(project.root) + os.sep):
        raise ProjectError(f"{path} is not inside the project folder {project.root}")
    relative = _relative_unresolved(project, path)
    if relative.split("/", 1)[0] == STATE_DIRNAME:
        raise ProjectError(f"{relative} is vidpipe's own state and is never ingested")
    problem = unusable_name(relative)
    if problem:
        raise ProjectError(f"{display_path(path)}: {problem}")
    return path, relative


@dataclass(frozen=True)
class _Observed:
    """What the file system says about one path: read before any transaction begins."""

    path: Path
    relative: str
    folder: str  # its manifest's folder
    digest: str
    info: imaging.ImageInfo | None
    problem: str | None  # why it cannot be used, for the asset's error
    stat: os.stat_result | None


def _observe(project: Project, settings: Settings, path: Path, relative: str) -> _Observed:
    problem = _refusal(project, path)
    digest = None
    info = None
    if problem is None:
        try:
            digest = content_hash(path, project.root)
        except UnsafePath as exc:
            problem = str(exc).replace(f"{path} ", "", 1)
            problem += "" if problem.endswith("not read") else "; not read"
        except OSError as exc:
            problem = f"cannot read file: {exc.strerror or exc}"
    if problem is None:
        try:
            info = imaging.probe(path, settings.max_image_pixels, within=project.root)
        except ImageError as exc:
            problem = str(exc)
    try:
        stat = path.lstat()
    except OSError:
        stat = None
    return _Observed(
        path,
        relative,
        manifest_folder(project, path),
        digest or f"unreadable:{relative}",
        info,
        problem,
        stat,
    )


def _refusal(project: Project, path: Path) -> str | None:
    """Why ``path`` is not read at all, from its metadata alone (never opens it)."""
    try:
        own = path.lstat()
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    if stat_module.S_ISLNK(own.st_mode):
        try:
            target = path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symlink loop; not followed"
            return "symlink to nothing (its target is missing)"
        if not _inside(project, path):
            return "symlink points outside the project folder; not followed"
        if not _real_path_inside(project, path):
            return "symlink points into .vidpipe/; not followed"
        if not stat_module.S_ISREG(target.st_mode):
            return f"symlink to {describe_kind(target.st_mode)}, not to an image file; not read"
        return None
    if not stat_module.S_ISREG(own.st_mode):
        return f"is {describe_kind(own.st_mode)}, not an image file; not read"
    if not _real_path_inside(project, path):
        # The file's folder is a symlink leading elsewhere: never read what lies outside.
        return "lies in a folder that leads outside the project (a symlink); not read"
    return None


def _sort_key(asset: Asset) -> float:
    # Rows not inserted yet get ids above every stored one, in the order they were decided.
    return asset.id if asset.id is not None else math.inf


class _Batch:
    """The uploaded rows a batch of paths can touch, kept current while the batch is decided, so
    each path sees what the paths before it did: the same outcome as one ingest_file call after
    another. Lives inside one write transaction; new rows are inserted together at the end."""

    def __init__(self, project: Project, observed: list[_Observed]):
        self.project = project
        self.by_path: dict[str, Asset] = {}
        self.by_hash: dict[str, list[Asset]] = {}
        # Per content hash, the rows whose file is gone (move candidates, in id order), looked
        # up once per batch: asking every row of a hash again for every file of that hash made
        # thousands of identical files quadratic.
        self.missing: dict[str, list[Asset]] = {}
        self.new: list[Asset] = []
        relatives = [o.relative for o in observed]
        digests = list({o.digest for o in observed})
        rows = (
            Asset.select()
            .where(
                Asset.source == Source.UPLOADED,
                Asset.file_path.in_(relatives) | Asset.content_hash.in_(digests),
            )
            .order_by(Asset.id)
        )
        for asset in rows:
            self._add(asset)

    def _add(self, asset: Asset) -> None:
        self.by_path.setdefault(asset.file_path, asset)
        bisect.insort(self.by_hash.setdefault(asset.content_hash, []), asset, key=_sort_key)

    def _replace(self, old: Asset, result: IngestResult) -> IngestResult:
        if self.by_path.get(old.file_path) is old:
            del self.by_path[old.file_path]
        self.by_hash[old.content_hash].remove(old)
        if old in self.missing.get(old.content_hash, ()):
            self.missing[old.content_hash].remove(old)
        self._add(result.asset)  # its file is there (just seen): never a move candidate
        return result

    def _moved_from(self, digest: str) -> Asset | None:
        """The first row of this content whose file is gone (the file was renamed), if any."""
        if digest not in self.missing:
            self.missing[digest] = [
                a
                for a in self.by_hash.get(digest, [])
                if not _stored_file_exists(self.project, a.file_path)
            ]
        missing = self.missing[digest]
        return missing[0] if missing else None

    def _stored(self, asset: Asset) -> Asset:
        if asset.id is None:  # decided earlier in this batch: insert before updating it
            self.insert_new()
        return asset

    def ingest(self, seen: _Observed, manifest: Manifest) -> IngestResult:
        same_path = self.by_path.get(seen.relative)
        if same_path is not None:
            return self._replace(
                same_path,
                _update_existing(
                    self._stored(same_path), seen.digest, seen.info, seen.problem, seen.stat
                ),
            )
        moved = self._moved_from(seen.digest)
        if moved is not None:
            return self._replace(
                moved, _move(self._stored(moved), manifest, seen.relative, seen.stat)
            )
        if seen.problem is None:
            for existing in self.by_hash.get(seen.digest, []):
                if existing.manifest_id == manifest.id:
                    return IngestResult(existing, IngestStatus.DUPLICATE)
        hint = type_hint(Path(seen.relative))
        stat, info = seen.stat, seen.info
        asset = Asset(
            manifest=manifest,
            name=seen.path.stem,
            asset_type=(hint or AssetType.UNKNOWN).value,
            type_source="hint" if hint else "default",
            file_path=seen.relative,
            content_hash=seen.digest,
            file_size=stat.st_size if stat else 0,
            file_mtime=stat.st_mtime if stat else 0.0,
            width=info.width if info else None,
            height=info.height if info else None,
            state=AssetState.ERROR if seen.problem else AssetState.PENDING,
            error=seen.problem,
        )
        self.new.append(asset)
        self._add(asset)
        return IngestResult(asset, IngestStatus.ERROR if seen.problem else IngestStatus.NEW)

    def insert_new(self) -> None:
        """Insert the rows decided so far in one statement per 100 and give them their ids."""
        if not self.new:
            return
        for rows in chunked([asset.__data__ for asset in self.new], 100):
            Asset.insert_many(rows).execute()
        # Each new row's path had no uploaded asset when the batch began, and the write lock has
        # been held since: the path finds exactly the row just inserted.
        ids = dict(
            Asset.select(Asset.file_path, Asset.id)
            .where(
                Asset.source == Source.UPLOADED,
                Asset.file_path.in_([asset.file_path for asset in self.new]),
            )
            .tuples()
        )
        for asset in self.new:
            asset.id = ids[asset.file_path]
            asset._dirty.clear()
        self.new = []


_observers: ThreadPoolExecutor | None = None
_observers_lock = threading.Lock()


def _observer_pool() -> ThreadPoolExecutor:
    # Hashing and Pillow's decoding release the GIL: a few threads read files side by side.
    global _observers
    with _observers_lock:
        if _observers is None:
            _observers = ThreadPoolExecutor(
                max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="vidpipe-ingest-read"
            )
        return _observers


def ingest_files(
    project: Project, settings: Settings, paths: Iterable[Path], batch_size: int = INGEST_BATCH
) -> list[IngestResult]:
    """Create or update the assets for files under PROJECT; results in the order of ``paths``.

    The same outcome as :func:`ingest_file` on each path in turn (duplicates within the batch,
    renames, changed content, error assets), but files are hashed and probed outside any
    transaction (on a few threads), and each ``batch_size`` paths are decided in one short write
    transaction: one query for the rows they can touch, one insert for the new rows. Refuses the
    whole call (ProjectError) if any path lies outside PROJECT or inside .vidpipe/.
    """
    checked = [_checked(project, path) for path in paths]
    if len(checked) > 1:
        observations = _observer_pool().map(lambda pr: _observe(project, settings, *pr), checked)
    else:
        observations = (_observe(project, settings, *pr) for pr in checked)
    results: list[IngestResult] = []
    manifests: dict[str, Manifest] = {}
    for observed in chunked(observations, batch_size):
        with db.atomic():
            serialize_writers(INGEST_LOCK_KEY)
            for seen in observed:
                if seen.folder not in manifests:
                    manifests[seen.folder] = manifest_for(project, seen.folder)
            batch = _Batch(project, observed)
            results.extend(batch.ingest(seen, manifests[seen.folder]) for seen in observed)
            batch.insert_new()
    return results


def ingest_file(project: Project, settings: Settings, path: Path) -> IngestResult:
    """Create or update the asset for one file under PROJECT. Safe to call again and again."""
    return ingest_files(project, settings, [path])[0]


def _update_existing(asset: Asset, digest: str, info, problem: str | None, stat) -> IngestResult:
    was_removed = asset.state == AssetState.REMOVED
    changed = asset.content_hash != digest
    updates = {
        Asset.content_hash: digest,
        Asset.file_size: stat.st_size if stat else 0,
        Asset.file_mtime: stat.st_mtime if stat else 0.0,
        Asset.updated_at: utcnow(),
    }
    if problem:
        updates.update({Asset.state: AssetState.ERROR, Asset.error: problem})
        status = IngestStatus.ERROR
    elif changed or was_removed or asset.state == AssetState.ERROR:
        updates.update(
            {
                Asset.state: AssetState.PENDING,
                Asset.error: None,
                Asset.width: info.width,
                Asset.height: info.height,
            }
        )
        status = IngestStatus.RESTORED if was_removed and not changed else IngestStatus.CHANGED
    else:
        status = IngestStatus.UNCHANGED
    if changed:
        # New pixels: every stage must look again. Person edits stay (they live in the fields).
        StageMark.delete().where(StageMark.asset == asset.id).execute()
    Asset.update(updates).where(Asset.id == asset.id).execute()
    if was_removed and not problem:
        _restore_crops(asset.id)
    return IngestResult(Asset.get_by_id(asset.id), status)


def _move(asset: Asset, manifest: Manifest, relative: str, stat) -> IngestResult:
    updates = {
        Asset.file_path: relative,
        Asset.manifest: manifest.id,
        Asset.file_mtime: stat.st_mtime if stat else asset.file_mtime,
        Asset.state: AssetState.PENDING if asset.state == AssetState.REMOVED else asset.state,
        Asset.updated_at: utcnow(),
    }
    crop_updates = {Asset.manifest: manifest.id}
    if asset.manifest_id != manifest.id:
        # Tags are numbered per manifest: in its new manifest the asset (and its crops) takes
        # the next free numbers there. Its old numbers stay spent in the old manifest.
        updates[Asset.manifest_tag] = crop_updates[Asset.manifest_tag] = None
    Asset.update(updates).where(Asset.id == asset.id).execute()
    # Crops extracted from it move with it.
    Asset.update(crop_updates).where(Asset.source_asset == asset.id).execute()
    if asset.state == AssetState.REMOVED:
        _restore_crops(asset.id)
    return IngestResult(Asset.get_by_id(asset.id), IngestStatus.MOVED)


def _restore_crops(asset_id: int) -> None:
    Asset.update({Asset.state: AssetState.PENDING, Asset.updated_at: utcnow()}).where(
        Asset.source_asset == asset_id, Asset.state == AssetState.REMOVED
    ).execute()


def _stored_file_exists(project: Project, relative: str) -> bool:
    """A stored path names an existing file in the project (one leading outside never does)."""
    try:
        return project.absolute(relative).exists()
    except UnsafeStoredPath:
        return False


def mark_removed(project: Project, path: Path) -> list[Asset]:
    """The file at ``path`` (or every file under the folder ``path``) is gone: mark, don't delete."""
    relative = _relative_unresolved(project, Path(path))
    query = Asset.select().where(
        Asset.source == Source.UPLOADED,
        Asset.state != AssetState.REMOVED,
        (Asset.file_path == relative) | Asset.file_path.startswith(relative + "/"),
    )
    removed = [a for a in query if not _stored_file_exists(project, a.file_path)]
    if removed:
        ids = [a.id for a in removed]
        # Crops go (and come back) with their source image; their edits stay on the rows.
        Asset.update({Asset.state: AssetState.REMOVED, Asset.updated_at: utcnow()}).where(
            Asset.id.in_(ids) | Asset.source_asset.in_(ids)
        ).execute()
    return removed


@dataclass
class ScanSummary:
    results: list[IngestResult]
    removed: list[Asset]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path shown, reason)

    def count(self, status: IngestStatus) -> int:
        return sum(1 for r in self.results if r.status == status)


def reconcile(project: Project, settings: Settings) -> ScanSummary:
    """Make the database agree with the folder: ingest what is new or changed, follow renames,
    mark what disappeared as removed. Unchanged files (same size and mtime) are not re-hashed."""
    known = {a.file_path: a for a in Asset.select().where(Asset.source == Source.UPLOADED)}
    results: list[IngestResult | None] = []
    to_ingest: list[Path] = []
    skipped: list[tuple[str, str]] = []

    def skip(path: Path, reason: str) -> None:
        _log_skip(path, reason)
        try:
            path = Path(os.path.abspath(path)).relative_to(project.root)
        except ValueError:
            pass
        skipped.append((display_path(path), reason))

    for path in iter_input_files(project, on_skip=skip):
        relative = _relative_unresolved(project, path)
        asset = known.get(relative)
        if asset is not None and asset.state not in (AssetState.REMOVED,):
            try:
                stat = path.stat()
            except OSError:
                stat = None
            if stat and stat.st_size == asset.file_size and stat.st_mtime == asset.file_mtime:
                results.append(IngestResult(asset, IngestStatus.UNCHANGED))
                continue
        results.append(None)
        to_ingest.append(path)
    ingested = iter(ingest_files(project, settings, to_ingest))
    done = [result if result is not None else next(ingested) for result in results]
    removed = []
    for asset in Asset.select().where(
        Asset.source == Source.UPLOADED, Asset.state != AssetState.REMOVED
    ):
        try:
            path = project.absolute(asset.file_path)
        except UnsafeStoredPath as exc:
            log.warning("asset #%s: %s", asset.id, exc)
            continue
        if not path.exists() and not path.is_symlink():
            removed.extend(mark_removed(project, path))
    return ScanSummary(done, removed, skipped)


def add_files(
    project: Project, settings: Settings, files: list[Path], manifest: str | None = None
) -> list[IngestResult]:
    """Copy files into PROJECT (or PROJECT/<manifest>/) and ingest them.

    A name already taken by a different file gets ``-2``, ``-3`` ... appended; each copy is
    complete before it appears under its name, and never replaces anything, so two ``add`` of
    different files with one name at once keep both."""
    target = _add_target(project, manifest)
    results = []
    for source in files:
        source = Path(source)
        problem = _source_problem(source)
        if problem:
            raise ProjectError(f"{display_path(source)}: {problem}")
        destination = target / source.name
        if not _same_file(destination, source):
            destination = target / _copy_in(source, target, project)
        results.append(ingest_file(project, settings, destination))
    return results


def _add_target(project: Project, manifest: str | None) -> Path:
    if not manifest:
        return project.root
    if (
        manifest.startswith(".")
        or "/" in manifest
        or "\0" in manifest
        or unusable_name(manifest)
        or len(manifest.encode("utf-8")) > 255
    ):
        raise ProjectError(f"invalid manifest name {manifest!r}")
    target = project.root / manifest
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ProjectError(
            f"{target} is not a folder inside the project (a symlink or a "
            "file); vidpipe copies images only into real folders of the project"
        )
    target.mkdir(exist_ok=True)
    return target


def _source_problem(source: Path) -> str | None:
    try:
        mode = source.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not stat_module.S_ISREG(mode):
        return f"is {describe_kind(mode)}, not a file"
    return unusable_name(source.name)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _copy_in(source: Path, target: Path, project: Project) -> str:
    """Copy ``source`` into ``target`` under its name or the first free ``name-N``; a name that
    already holds the same bytes is reused. Returns the name used."""
    wanted = content_hash(source)

    def same(name: str) -> bool:
        path = target / name
        try:
            return not path.is_symlink() and content_hash(path, project.root) == wanted
        except (OSError, UnsafePath):
            return False

    if same(source.name):
        return source.name
    with open_regular(source) as handle:
        times = os.fstat(handle.fileno())

        def copy(out) -> None:
            shutil.copyfileobj(handle, out, 1 << 20)
            out.flush()
            os.utime(out.fileno(), ns=(times.st_atime_ns, times.st_mtime_ns))

        return write_new(
            target, _candidate_names(source.name), copy, within=project.root, same=same
        )


def _candidate_names(name: str) -> Iterator[str]:
    yield name
    stem, suffix = os.path.splitext(name)
    for index in range(2, 10_000):
        tail = f"-{index}{suffix}"
        # Keep the name within the 255 bytes a folder entry may hold.
        while len((stem + tail).encode("utf-8")) > 255:
            stem = stem[:-1]
        yield stem + tail
