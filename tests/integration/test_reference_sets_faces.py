"""Reference sets of characters the real pipeline found: `vidpipe process` (real deepface faces,
project-wide characters, offline prompts; the pixel detector for want of YOLO weights), then
`vidpipe export --format veo|runway|kohya` as separate processes, each set checked on its
consumer's own terms."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support.reference_sets import (
    check_kohya_layout,
    check_runway_set,
    check_veo_set,
    tree,
)

pytestmark = pytest.mark.slow

VIDPIPE = Path(sys.executable).parent / "vidpipe"
ENV = {**os.environ, "VIDPIPE_DETECTOR": "support.pixel_detector:PixelDetector"}


def vidpipe(*args: str) -> str:
    result = subprocess.run(
        [str(VIDPIPE), *args], env=ENV, capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_characters_found_in_real_photos_leave_as_reference_sets(
    tmp_path, gracehopper_jpg, zidane_jpg
):
    root = tmp_path / "proj"
    vidpipe("init", str(root))
    (root / "cast").mkdir()
    (root / "street").mkdir()
    shutil.copy(gracehopper_jpg, root / "cast" / "grace.jpg")
    shutil.copy(zidane_jpg, root / "street" / "zidane.jpg")
    with Image.open(gracehopper_jpg) as grace:  # the same woman, in the other manifest
        grace.convert("L").save(root / "street" / "grace_grey.jpg")
    vidpipe("process", str(root))
    characters = json.loads(vidpipe("characters", str(root), "--json"))
    handles = {c["handle"] for c in characters}
    across = [c for c in characters if {i["manifest"] for i in c["images"]} == {"cast", "street"}]
    assert len(across) == 1 and len(characters) >= 3  # Grace once; zidane.jpg's two men

    sets = {fmt: tmp_path / fmt for fmt in ("veo", "runway", "kohya")}
    for fmt, out in sets.items():
        vidpipe("export", str(root), "--format", fmt, "-o", str(out))

    veo = tree(sets["veo"])
    assert {f"{handle}.json" for handle in handles} <= set(veo)
    for name, raw in veo.items():
        check_veo_set(name, raw)
    grace = json.loads(veo[f"{across[0]['handle']}.json"])
    assert len(grace["config"]["reference_images"]) == 2  # both photos' faces

    runway_sets = tree(sets["runway"])
    assert set(runway_sets) == set(veo)
    for raw in runway_sets.values():
        check_runway_set(raw)

    config = check_kohya_layout(sets["kohya"])
    assert {s["class_tokens"] for s in config["datasets"][0]["subsets"]} == handles
