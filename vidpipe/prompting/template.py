"""The prompt sent with each image, and its version.

A template is plain text with ``$placeholders`` (Python ``string.Template``): ``$context`` (a
ready-made block of what the pipeline knows about the asset), ``$type``, ``$name``, ``$tag``,
``$parent``, ``$detected``. Unknown ``$words`` are left as they are. The version is a hash of the
template text and of the answer schema: change either and every asset is due again, while cached
answers of the old version stay untouched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

from vidpipe.store.models import Asset, AssetType, Source
from vidpipe.store.template_file import MAX_TEMPLATE_BYTES, read_template_text  # noqa: F401
from vidpipe.prompting.schema import ReversePrompt

DEFAULT_TEMPLATE = """\
You are preparing reference material for an AI video production. The attached image is one
reference asset of the production's manifest. What the pipeline already knows about it:

$context

Answer in JSON with these fields:
- reverse_prompt: one text-to-image prompt (40-80 words) that would recreate this reference
  faithfully: subject, distinguishing features, clothing or materials, pose, setting, lighting,
  camera framing, style. Where a tag is given, name the subject by that tag exactly (for example
  "$tag, ...") so downstream prompts can refer to it; never use the file name.
- visual_description: two to four plain sentences on what is visible, for a person reviewing
  the manifest.
- quality_score: 0 to 10, how usable the image is as a generation reference (10: sharp, well lit,
  subject fully visible; 0: unusable).
Describe only what is visible. Do not guess identities of real people.
"""

_TYPE_WORDS = {
    AssetType.CHARACTER: "character (a person or creature to keep consistent across shots)",
    AssetType.OBJECT: "object / prop",
    AssetType.ENVIRONMENT: "environment / location",
    AssetType.STYLE: "style reference (look, palette, mood)",
    AssetType.UNKNOWN: "not classified yet",
}


@dataclass(frozen=True)
class PromptTemplate:
    text: str
    version: str  # 12 hex digits

    @classmethod
    def from_text(cls, text: str) -> "PromptTemplate":
        schema = json.dumps(ReversePrompt.model_json_schema(), sort_keys=True)
        digest = hashlib.sha256(f"{text}\n--schema--\n{schema}".encode()).hexdigest()
        return cls(text=text, version=digest[:12])

    def render(self, values: dict[str, str]) -> str:
        return Template(self.text).safe_substitute(values)


def load_template(
    project_root: Path, template_path: str | None, kept_text: str | None = None
) -> PromptTemplate:
    """The configured template (a path, relative to the project folder) or the built-in one.
    ``kept_text``: the file's text as read when the settings loaded (Settings.kept_template),
    used instead of reading the file again."""
    if not template_path:
        return PromptTemplate.from_text(DEFAULT_TEMPLATE)
    if kept_text is not None:
        return PromptTemplate.from_text(kept_text)
    return PromptTemplate.from_text(read_template_text(project_root, template_path))


def detected_phrase(asset: Asset) -> str:
    """'a face', 'a person (confidence 0.91)', or '' for an uploaded image."""
    if asset.is_face_crop:
        return "a face"
    if asset.detection_class:
        confidence = (
            f" (confidence {asset.detection_confidence:.2f})"
            if asset.detection_confidence is not None
            else ""
        )
        return f"a {asset.detection_class}{confidence}"
    return ""


def asset_values(asset: Asset, parent: Asset | None) -> dict[str, str]:
    """The template's placeholders for one asset."""
    try:
        kind = AssetType(asset.asset_type)
    except ValueError:
        kind = AssetType.UNKNOWN
    parent_label = ""
    if parent is not None:
        parent_label = (
            f"{parent.manifest_tag} ({parent.name})" if parent.manifest_tag else parent.name
        )
    detected = detected_phrase(asset)
    lines = [f"- Asset type: {_TYPE_WORDS[kind]}", f"- Name: {asset.name}"]
    if asset.manifest_tag:
        lines.append(f"- Tag: {asset.manifest_tag}")
    if asset.source == Source.EXTRACTED:
        where = f" from {parent_label}" if parent_label else ""
        what = detected or "a region"
        lines.append(f"- This is a crop{where}: the detector found {what} here.")
    else:
        lines.append("- This is a whole uploaded reference image.")
    if asset.description:
        lines.append(f"- Notes from the team: {asset.description.strip()[:500]}")
    return {
        "context": "\n".join(lines),
        "type": kind.value,
        "name": asset.name,
        "tag": asset.manifest_tag or "the subject",
        "parent": parent_label,
        "detected": detected,
    }
