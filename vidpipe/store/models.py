"""The project database: peewee models.

``db`` is a proxy bound by :func:`vidpipe.store.database.open_database` in each entry point, so the same
models serve SQLite (default, one file per project) and PostgreSQL (scale-out).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING

import peewee
from peewee import (
    AutoField,
    BooleanField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

db = DatabaseProxy()


class CharField(peewee.CharField):
    """VARCHAR without a length: PostgreSQL enforces peewee's default of 255, and a path or a
    name may be longer (SQLite never enforced it)."""

    def get_modifiers(self):
        return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class JSONField(TextField):
    """JSON stored as text (works on SQLite and PostgreSQL alike)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class AssetType(StrEnum):
    CHARACTER = "CHARACTER"
    OBJECT = "OBJECT"
    ENVIRONMENT = "ENVIRONMENT"
    STYLE = "STYLE"
    UNKNOWN = "UNKNOWN"  # not decided yet: detection decides unless a person does


TAG_PREFIX = {
    AssetType.CHARACTER: "CHAR",
    AssetType.OBJECT: "OBJ",
    AssetType.ENVIRONMENT: "ENV",
    AssetType.STYLE: "STYLE",
    AssetType.UNKNOWN: "REF",
}


class Source(StrEnum):
    UPLOADED = "uploaded"
    EXTRACTED = "extracted"


class AssetState(StrEnum):
    PENDING = "pending"  # ingested, pipeline not finished for it
    PROCESSED = "processed"  # every stage that could run has run
    ERROR = "error"  # unusable input or a stage failed on it; see Asset.error
    REMOVED = "removed"  # its file was deleted; kept so edits are not lost


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process stopped or died mid-run; queued again on restart


class RunKind(StrEnum):
    PROCESS = "process"  # every stage over a manifest
    REPROCESS = "reprocess"  # detection, prompts and tags again for one asset


class RunMode(StrEnum):
    MISSING = "missing"  # only the work not done yet
    ALL = "all"  # redo everything


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Author(StrEnum):
    USER = "user"
    AI = "ai"
    SYSTEM = "system"


class BaseModel(Model):
    if TYPE_CHECKING:
        # The primary key peewee adds to a model that declares none, and the <name>_id it adds
        # beside each foreign key: declared for the type checker only.
        id = AutoField()

    class Meta:
        database = db
        legacy_table_names = False


class SchemaInfo(BaseModel):
    """Key/value facts about the database itself (schema version)."""

    key = CharField(primary_key=True)
    value = TextField()


class Manifest(BaseModel):
    name = CharField(unique=True)
    folder = CharField()  # relative to PROJECT; "" for images directly in PROJECT
    contact_sheets = JSONField(default=list)  # paths relative to PROJECT
    contact_sheet_fingerprint = CharField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Character(BaseModel):
    """One person across the whole project: a face group with a stable handle.

    Rows are never deleted, so a ``number`` is never handed to another group; a character whose
    faces all went keeps its row (no images) and comes back with them.
    """

    number = IntegerField(unique=True)
    handle = CharField(unique=True)  # PERSON_01, or what a person renamed it to (HERO)
    name = CharField(default="")
    description = TextField(default="")
    description_origin = CharField(null=True)  # gemini | openai | offline | user
    description_key = CharField(null=True)  # fingerprint of the images it was made from
    # An asset id, not a foreign key (Asset already points here): one that is no longer among the
    # character's images is ignored.
    primary_asset = IntegerField(null=True)
    primary_picked = BooleanField(default=False)  # a person chose the primary image
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Asset(BaseModel):
    if TYPE_CHECKING:
        manifest_id: int
        source_asset_id: int | None
        duplicate_of_id: int | None
        character_id: int | None

    manifest = ForeignKeyField(Manifest, backref="assets", on_delete="CASCADE")
    name = CharField()
    asset_type = CharField(default=AssetType.UNKNOWN)
    type_source = CharField(default="default")  # default | hint | detection | user
    description = TextField(default="")
    user_tags = JSONField(default=list)
    sort_order = IntegerField(default=0)
    manifest_tag = CharField(null=True)

    source = CharField(default=Source.UPLOADED)
    source_asset = ForeignKeyField("self", null=True, backref="extracted", on_delete="CASCADE")
    # Identity of an extracted asset within its source ("det:person:3", "face:0"): re-running a
    # stage finds the same row instead of adding a duplicate.
    extraction_key = CharField(null=True)

    file_path = CharField(index=True)  # relative to PROJECT (crops under .vidpipe/crops/)
    content_hash = CharField(index=True)
    file_size = IntegerField(default=0)
    file_mtime = FloatField(default=0.0)
    width = IntegerField(null=True)
    height = IntegerField(null=True)

    reverse_prompt = TextField(default="")
    visual_description = TextField(default="")
    quality_score = FloatField(null=True)
    prompt_origin = CharField(null=True)  # "gemini" | "openai" | "offline"
    prompt_version = CharField(null=True)

    detection_class = CharField(null=True)
    detection_confidence = FloatField(null=True)
    is_face_crop = BooleanField(default=False)
    crop_bbox = JSONField(null=True)  # [x1, y1, x2, y2] in source-image pixels after EXIF rotation

    face_group = IntegerField(null=True, index=True)
    duplicate_of = ForeignKeyField("self", null=True, backref="duplicates", on_delete="SET NULL")
    face_embedding = JSONField(null=True)
    # The character this image shows (a face crop, the person crop or closeup holding the face)
    # and how: front | three_quarter | profile | closeup | full_body.
    character = ForeignKeyField(
        Character, null=True, backref="images", on_delete="SET NULL", lazy_load=False
    )
    character_role = CharField(null=True)
    # The face detector's raw box and landmarks in source-image pixels:
    # {"box": [x1, y1, x2, y2], "left_eye": [x, y], "right_eye": .., "nose": .., ...}.
    face_landmarks = JSONField(null=True)
    sharpness = FloatField(null=True)  # variance of the Laplacian of the grey image

    state = CharField(default=AssetState.PENDING, index=True)
    error = TextField(null=True)  # why the input itself is unusable (state == ERROR)
    stage_errors = JSONField(default=dict)  # {stage: message} for stages that failed on it
    reviewed = BooleanField(default=False)
    reviewed_by = CharField(null=True)  # the person who marked it reviewed, and when
    reviewed_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("source_asset", "extraction_key"), True),)

    @property
    def type(self) -> AssetType:
        return AssetType(self.asset_type)


class CharacterEdit(BaseModel):
    """FieldEdit's counterpart for a character's fields (handle, name, description, primary)."""

    if TYPE_CHECKING:
        character_id: int

    character = ForeignKeyField(Character, backref="edits", on_delete="CASCADE")
    field = CharField()
    old_value = JSONField(null=True)
    new_value = JSONField(null=True)
    author = CharField()
    applied = BooleanField(default=True)
    undone = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow, index=True)


class FieldEdit(BaseModel):
    """Every change of an editable field, by whom; the basis of undo and of 'edited by a person'.

    ``applied`` is False for an AI suggestion that arrived after a person's edit: it is kept here
    (visible, adoptable) instead of overwriting the edit.
    """

    if TYPE_CHECKING:
        asset_id: int

    asset = ForeignKeyField(Asset, backref="edits", on_delete="CASCADE")
    field = CharField()
    old_value = JSONField(null=True)
    new_value = JSONField(null=True)
    author = CharField()
    person = CharField(null=True)  # who, for a person's edit (login name); None for the AI
    applied = BooleanField(default=True)
    undone = BooleanField(default=False)
    # Edits made by one action of a person (a retag, a type change and the new tag it brings)
    # share a change id: undo and redo take the whole change, never half of it.
    change = CharField(null=True, index=True)
    created_at = DateTimeField(default=utcnow, index=True)


class StageMark(BaseModel):
    """A stage finished for an asset with a given fingerprint (model + settings that matter).

    "missing" reruns skip assets whose mark matches; a changed fingerprint means redo.
    """

    if TYPE_CHECKING:
        asset_id: int

    asset = ForeignKeyField(Asset, backref="stage_marks", on_delete="CASCADE")
    stage = CharField()
    fingerprint = CharField()
    done_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("asset", "stage"), True),)


class Run(BaseModel):
    """One job: process a manifest or reprocess an asset. Its status changes only through
    :mod:`vidpipe.pipeline.runs`, the state machine."""

    if TYPE_CHECKING:
        manifest_id: int | None
        asset_id: int | None

    kind = CharField()  # RunKind
    manifest = ForeignKeyField(Manifest, null=True, backref="runs", on_delete="CASCADE")
    asset = ForeignKeyField(Asset, null=True, backref="runs", on_delete="SET NULL")
    mode = CharField(default=RunMode.MISSING)  # RunMode
    args = JSONField(default=dict)
    status = CharField(default=RunStatus.QUEUED, index=True)
    priority = IntegerField(default=0)
    requested_by = CharField(default="cli")
    cancel_requested = BooleanField(default=False)
    error = TextField(null=True)
    worker_pid = IntegerField(null=True)
    # Who runs it ("host:pid") and until when, unless renewed: a run whose lease lapsed was
    # abandoned by a dead process and may be queued again.
    lease_owner = CharField(null=True)
    lease_expires_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)


class StageProgress(BaseModel):
    """Live progress of one stage of one run; written by the worker, read by the TUI and CLI."""

    if TYPE_CHECKING:
        run_id: int

    run = ForeignKeyField(Run, backref="stages", on_delete="CASCADE")
    stage = CharField()
    position = IntegerField()
    status = CharField(default=StageStatus.PENDING)
    done = IntegerField(default=0)
    total = IntegerField(default=0)
    errors = IntegerField(default=0)
    current_item = CharField(null=True)
    message = TextField(null=True)
    started_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("run", "stage"), True),)


class ItemError(BaseModel):
    """One asset that failed in one stage of one run, with the message a person needs."""

    if TYPE_CHECKING:
        run_id: int
        asset_id: int | None

    run = ForeignKeyField(Run, backref="item_errors", on_delete="CASCADE")
    stage = CharField()
    asset = ForeignKeyField(Asset, null=True, backref="item_errors", on_delete="CASCADE")
    message = TextField()
    created_at = DateTimeField(default=utcnow)


class FaceDecision(BaseModel):
    """A person's verdict on two faces: same person (merge) or not (split). Survives reruns."""

    if TYPE_CHECKING:
        asset_a_id: int
        asset_b_id: int

    asset_a = ForeignKeyField(Asset, backref="+", on_delete="CASCADE")
    asset_b = ForeignKeyField(Asset, backref="+", on_delete="CASCADE")
    same = BooleanField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("asset_a", "asset_b"), True),)


class PromptCache(BaseModel):
    """A reverse-prompting answer keyed by image content + model + prompt version."""

    key = CharField(primary_key=True)
    response = JSONField()
    created_at = DateTimeField(default=utcnow)


class PromptUsage(BaseModel):
    """One billed Gemini response: its tokens and what they cost, for the run and the asset that
    asked (the first asset of a group sharing one image). Kept when the run or asset goes, so
    the project's total stays what was paid."""

    if TYPE_CHECKING:
        run_id: int | None
        asset_id: int | None

    run = ForeignKeyField(Run, null=True, backref="prompt_usage", on_delete="SET NULL")
    asset = ForeignKeyField(Asset, null=True, backref="prompt_usage", on_delete="SET NULL")
    model = CharField()
    batch = BooleanField(default=False)  # Batch API: half price
    input_tokens = IntegerField(default=0)  # prompt tokens, cached ones included
    output_tokens = IntegerField(default=0)
    thinking_tokens = IntegerField(default=0)
    cached_tokens = IntegerField(default=0)
    cost_usd = FloatField(null=True)  # None: no price known for the model
    created_at = DateTimeField(default=utcnow)


class GeminiBatch(BaseModel):
    """A Gemini Batch API job carrying one manifest's prompts.

    The row is written before the job is submitted (its ``display_name`` goes with the job) and
    gets the job's ``name`` the moment Gemini accepted it, so a process killed at any point
    resumes polling the same job instead of paying for a second one.
    """

    if TYPE_CHECKING:
        manifest_id: int
        run_id: int | None

    manifest = ForeignKeyField(Manifest, backref="gemini_batches", on_delete="CASCADE")
    run = ForeignKeyField(Run, null=True, backref="gemini_batches", on_delete="SET NULL")
    display_name = CharField(unique=True)
    name = CharField(null=True)  # "batches/..." once Gemini accepted the job
    model = CharField()
    prompt_version = CharField()
    state = CharField(default="SUBMITTING")
    # [{"key": cache key, "assets": [asset ids], "tag": the tag the prompt named}]
    items = JSONField(default=list)
    collected = JSONField(default=list)  # keys whose results are written
    finished = BooleanField(default=False, index=True)
    error = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class NumberCounter(BaseModel):
    """The highest number ever handed out in a series ("manifest:3" / "CHAR"), so that a number
    whose holder is gone (removed, renamed by a person, moved away) is never handed out again."""

    scope = CharField()
    prefix = CharField()
    high = IntegerField(default=0)

    class Meta:
        indexes = ((("scope", "prefix"), True),)


class KeyValue(BaseModel):
    """Small shared facts between processes, e.g. the daemon heartbeat."""

    key = CharField(primary_key=True)
    value = JSONField(null=True)
    updated_at = DateTimeField(default=utcnow)


ALL_MODELS = [
    SchemaInfo,
    Manifest,
    Asset,
    FieldEdit,
    StageMark,
    Run,
    StageProgress,
    ItemError,
    FaceDecision,
    PromptCache,
    KeyValue,
    PromptUsage,
    GeminiBatch,
    Character,
    CharacterEdit,
    NumberCounter,
]
