"""Checks of reference-set exports on their consumers' own terms, shared by the export tests:
google-genai's real types for Veo, Runway's documented limits with Pillow decoding every data
URI, tomllib and kohya's folder layout."""

from __future__ import annotations

import base64
import io
import json
import re
import tomllib
from pathlib import Path

from PIL import Image

from vidpipe.review.reference_sets import runway

DATA_URI = re.compile(r"data:(image/(?:jpeg|png));base64,([A-Za-z0-9+/]+={0,2})")
RUNWAY_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,15}")
RECORD = ".vidpipe-export"


def tree(folder: Path, with_record: bool = False) -> dict[str, bytes]:
    """The folder's files by relative path (the export's own record of them left out unless
    asked for)."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (with_record or path.name != RECORD)
    }


def check_veo_set(name: str, raw: bytes):
    """One ``DIR/<handle>.json``: google-genai's GenerateVideosConfig takes its config as it
    is, with 1-3 ASSET JPEGs Pillow decodes; the SDK's own serialisation reads back the same.
    Returns the validated config."""
    from google.genai import types

    document = json.loads(raw)
    assert set(document) == {"handle", "prompt", "config"}
    assert document["handle"] == name.removesuffix(".json")
    assert document["handle"] in document["prompt"]
    config = types.GenerateVideosConfig.model_validate(document["config"])
    assert 1 <= len(config.reference_images) <= 3
    for reference in config.reference_images:
        assert reference.reference_type == types.VideoGenerationReferenceType.ASSET
        assert reference.image.mime_type == "image/jpeg"
        with Image.open(io.BytesIO(reference.image.image_bytes), formats=["JPEG"]) as image:
            image.load()
            assert max(image.size) <= 1024
    dumped = config.model_dump(mode="json", exclude_none=True)
    assert types.GenerateVideosConfig.model_validate(dumped) == config
    return config


def check_runway_set(raw: bytes) -> dict:
    """One ``DIR/<handle>.json`` against Runway's gen4 reference rules: at most 3 references,
    valid tags each named in the prompt, the prompt within its length, every data URI within
    its size, decoded by Pillow as the type it claims, within the aspect-ratio limits."""
    document = json.loads(raw)
    assert set(document) == {"promptText", "referenceImages"}
    references = document["referenceImages"]
    assert 1 <= len(references) <= runway.RUNWAY_MAX_REFERENCES
    assert len(document["promptText"]) <= runway.RUNWAY_MAX_PROMPT_CHARS
    assert len({reference["tag"] for reference in references}) == len(references)
    for reference in references:
        assert set(reference) == {"uri", "tag"}
        assert RUNWAY_TAG.fullmatch(reference["tag"])
        assert f"@{reference['tag']}" in document["promptText"]
        assert len(reference["uri"]) <= runway.RUNWAY_MAX_DATA_URI_BYTES
        match = DATA_URI.fullmatch(reference["uri"])
        assert match, reference["uri"][:60]
        data = base64.b64decode(match.group(2), validate=True)
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
            image.load()
            assert Image.MIME[image.format] == match.group(1)
            ratio = image.width / image.height
            assert runway.RUNWAY_MIN_ASPECT_RATIO <= ratio <= runway.RUNWAY_MAX_ASPECT_RATIO
    return document


def check_kohya_layout(out: Path) -> dict:
    """tomllib reads the dataset config; kohya's keys where sd-scripts looks for them; every
    image_dir (relative to the set's folder) exists and holds PNGs, each with a one-line
    ``.txt`` caption starting with the subset's trigger word. Returns the config."""
    config = tomllib.loads((out / "dataset_config.toml").read_text(encoding="utf-8"))
    assert config["general"]["caption_extension"] == ".txt"
    [dataset] = config["datasets"]
    assert dataset["resolution"] == 1024 and dataset["batch_size"] == 1
    for subset in dataset["subsets"]:
        assert set(subset) == {
            "image_dir",
            "class_tokens",
            "caption_extension",
            "keep_tokens",
            "num_repeats",
        }
        assert subset["caption_extension"] == ".txt" and subset["keep_tokens"] == 1
        trigger = subset["class_tokens"]
        image_dir = out / subset["image_dir"]
        assert image_dir.is_dir()
        images = sorted(image_dir.glob("*.png"))
        assert images
        for image_path in images:
            with Image.open(image_path, formats=["PNG"]) as image:
                image.load()
                assert max(image.size) <= 1024
            caption = image_path.with_suffix(".txt").read_text(encoding="utf-8")
            assert caption.startswith(f"{trigger}, ") and caption.count("\n") == 1
        assert {p.suffix for p in image_dir.iterdir()} == {".png", ".txt"}
    return config
