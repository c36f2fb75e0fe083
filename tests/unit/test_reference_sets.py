"""`vidpipe export --format veo|runway|kohya`: each reference set checked on its consumer's
own terms (google-genai's real types, Runway's documented limits decoded with Pillow, tomllib
and kohya's layout), byte for byte deterministic, and written nowhere but its folder."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from vidpipe.cli import main
from vidpipe.review.reference_sets import kohya, runway
from vidpipe.review.reference_sets.common import ExportReport, SetContext
from vidpipe.review.reference_sets.output import ExportFolder
from vidpipe.review.reference_sets.subjects import object_subjects
from vidpipe.store.session import open_project

DATA_URI = re.compile(r"data:(image/(?:jpeg|png));base64,([A-Za-z0-9+/]+={0,2})")


@pytest.fixture
def core_stages(monkeypatch):
    """The contact sheet, offline prompts and tags: real stages, no model to load (the
    reference sets read what the pipeline wrote; characters have tests of their own)."""
    from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
    from vidpipe.pipeline.stages.prompts import PromptStage
    from vidpipe.pipeline.stages.tags import TagStage

    monkeypatch.setattr("vidpipe.pipeline.engine.default_stages",
                        lambda settings: [ContactSheetStage(), PromptStage(), TagStage()])


@pytest.fixture
def project(tmp_path, core_stages, bus_jpg, gracehopper_jpg, zidane_jpg):
    """A processed project: props/ and vehicles/ each have an OBJ_01 (so both are qualified
    with their manifest), locations/ holds a photo and two images far outside Runway's aspect
    ratios."""
    root = tmp_path / "proj"
    assert main(["init", str(root)]) == 0
    for folder, name, source in (("props", "bus.jpg", bus_jpg),
                                 ("vehicles", "obj_zidane.jpg", zidane_jpg),
                                 ("locations", "loc_grace.jpg", gracehopper_jpg)):
        (root / folder).mkdir(exist_ok=True)
        shutil.copy(source, root / folder / name)
    Image.new("RGB", (1800, 400), (30, 90, 200)).save(root / "locations" / "loc_banner.png")
    Image.new("RGB", (300, 1000), (200, 160, 40)).save(root / "locations" / "loc_tower.png")
    assert main(["process", str(root)]) == 0
    return root


def export(root: Path, fmt: str, out: Path, capsys) -> tuple[int, str]:
    code = main(["export", str(root), "--format", fmt, "-o", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


EXPECTED_HANDLES = {"props_OBJ_01", "vehicles_OBJ_01", "ENV_01", "ENV_02", "ENV_03"}


def test_veo_sets_validate_as_google_genai_configs(project, tmp_path, capsys):
    from google.genai import types

    out = tmp_path / "veo"
    code, text = export(project, "veo", out, capsys)
    assert code == 0, text
    files = tree(out)
    assert set(files) == {f"{handle}.json" for handle in EXPECTED_HANDLES}
    for name, raw in files.items():
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
        # The SDK's own serialisation reads back to the same config.
        dumped = config.model_dump(mode="json", exclude_none=True)
        assert types.GenerateVideosConfig.model_validate(dumped) == config
    # An object's prompt is its own prompt, renamed to the handle it leaves under.
    props = json.loads(files["props_OBJ_01.json"])
    head, rest = props["prompt"].split(", ", 1)
    assert head == "props_OBJ_01" and "OBJ_01" not in rest and "[offline]" not in rest


def test_runway_sets_meet_the_gen4_reference_rules(project, tmp_path, capsys):
    out = tmp_path / "runway"
    code, text = export(project, "runway", out, capsys)
    assert code == 0, text
    files = tree(out)
    assert set(files) == {f"{handle}.json" for handle in EXPECTED_HANDLES}
    for raw in files.values():
        document = json.loads(raw)
        assert set(document) == {"promptText", "referenceImages"}
        references = document["referenceImages"]
        assert 1 <= len(references) <= runway.RUNWAY_MAX_REFERENCES
        assert len(document["promptText"]) <= runway.RUNWAY_MAX_PROMPT_CHARS
        for reference in references:
            assert set(reference) == {"uri", "tag"}
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,15}", reference["tag"])
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
    # The 4.5:1 banner and the 0.3:1 tower were padded (and the export said so).
    assert text.count("padded to an aspect ratio") == 2
    # A qualified handle is a valid tag as it is: no mapping needed.
    props = json.loads(files["props_OBJ_01.json"])
    assert props["referenceImages"][0]["tag"] == "props_OBJ_01"
    assert props["promptText"].startswith("@props_OBJ_01, ")


def test_runway_tags_and_prompt_fit_any_handle():
    for handle in ("PERSON_01", "HERO", "Zoë Saldaña", "01_twin", "X", "a" * 40, "street/OBJ_02"):
        tag = runway.runway_tag(handle)
        for extra in runway.reference_tags(tag, 3):
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,15}", extra), (handle, extra)
    assert runway.runway_tag("PERSON_01") == "PERSON_01"
    assert runway.runway_tag("a" * 40) != runway.runway_tag("a" * 41)  # the digest tells them apart

    from vidpipe.review.reference_sets.subjects import ReferenceSubject, SubjectKind
    long = ReferenceSubject("HERO", SubjectKind.CHARACTER, "word " * 400 + "HERO", ())
    text = runway.prompt_text(long, ["HERO", "HERO_2", "HERO_3"])
    assert len(text) <= runway.RUNWAY_MAX_PROMPT_CHARS
    assert text.startswith("@HERO, word") and text.endswith(
        "@HERO_2 and @HERO_3 show the same character as @HERO.")


def test_kohya_training_set_layout(project, tmp_path):
    """The kohya writer on the project's subjects (characters only, once they exist; the
    objects here stand in for them): tomllib reads the config, every image_dir exists, every
    image has its caption, each caption starts with the trigger."""
    out = tmp_path / "kohya"
    with open_project(project) as session:
        subjects = object_subjects()
        report = ExportReport()
        folder = ExportFolder(session.project, out, holds_images=True)
        kohya.write_kohya(SetContext(session.project, session.settings.max_image_pixels,
                                     report), subjects, folder)
    assert not report.problems and report.subjects == len(EXPECTED_HANDLES)
    check_kohya_layout(out)


def check_kohya_layout(out: Path) -> dict:
    config = tomllib.loads((out / "dataset_config.toml").read_text(encoding="utf-8"))
    assert config["general"]["caption_extension"] == ".txt"
    [dataset] = config["datasets"]
    assert dataset["resolution"] == 1024 and dataset["batch_size"] == 1
    triggers = set()
    for subset in dataset["subsets"]:
        assert set(subset) == {"image_dir", "class_tokens", "caption_extension", "keep_tokens",
                               "num_repeats"}
        assert subset["caption_extension"] == ".txt" and subset["keep_tokens"] == 1
        trigger = subset["class_tokens"]
        triggers.add(trigger)
        image_dir = out / subset["image_dir"]  # relative to the set's folder
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


def test_exports_are_deterministic(project, tmp_path, capsys):
    for fmt in ("veo", "runway"):
        first, second = tmp_path / f"{fmt}-1", tmp_path / f"{fmt}-2"
        assert export(project, fmt, first, capsys)[0] == 0
        assert export(project, fmt, second, capsys)[0] == 0
        assert tree(first) == tree(second), fmt
        # Again into the same folder: the same bytes, nothing added.
        assert export(project, fmt, first, capsys)[0] == 0
        assert tree(first) == tree(second), fmt


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every file under ``root`` but ``skip`` and SQLite's own files, by content digest."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if skip in path.parents or name.startswith("vidpipe.db"):
                continue
            out[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest()
                              if not path.is_symlink() else os.readlink(path))
    return out


def test_writes_nothing_outside_its_folder(project, tmp_path, capsys):
    out = tmp_path / "sets" / "veo"
    before = snapshot(tmp_path, out)
    assert export(project, "veo", out, capsys)[0] == 0
    assert snapshot(tmp_path, out) == before


def test_refuses_a_folder_in_vidpipe_state_or_in_the_project(project, tmp_path, capsys):
    state = project / ".vidpipe"
    before = snapshot(tmp_path, tmp_path / "none")
    for target in (state / "exports" / "veo", state):
        code, text = export(project, "veo", target, capsys)
        assert code == 2 and "inside" in text and ".vidpipe" in text, text
    # A symlink outside that leads into .vidpipe is refused the same way.
    (tmp_path / "sneaky").symlink_to(state / "crops")
    code, text = export(project, "runway", tmp_path / "sneaky", capsys)
    assert code == 2 and "vidpipe's own state" in text
    # A training set's images would be ingested as new assets: not inside the project.
    code, text = export(project, "kohya", project / "training", capsys)
    assert code == 2, text
    assert not (project / "training").exists()
    after = snapshot(tmp_path, tmp_path / "none")
    assert after == before


def test_planted_symlinks_in_the_folder_are_not_written_through(project, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.json"
    victim.write_text("keep me")
    out = tmp_path / "veo"
    out.mkdir()
    (out / "ENV_01.json").symlink_to(victim)
    assert export(project, "veo", out, capsys)[0] == 0
    assert victim.read_text() == "keep me"
    assert not (out / "ENV_01.json").is_symlink()
    json.loads((out / "ENV_01.json").read_text())

    # A training folder planted as a symlink to elsewhere is refused, not filled.
    with open_project(project) as session:
        subjects = object_subjects()[:1]
        stem = subjects[0].handle
        kohya_out = tmp_path / "kohya"
        kohya_out.mkdir()
        (kohya_out / stem).symlink_to(outside, target_is_directory=True)
        folder = ExportFolder(session.project, kohya_out, holds_images=True)
        with pytest.raises(Exception, match="symlink"):
            kohya.write_kohya(SetContext(session.project, session.settings.max_image_pixels,
                                         ExportReport()), subjects, folder)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.json"]


def test_an_image_leading_out_of_the_project_is_left_out(project, tmp_path, capsys):
    secret = tmp_path / "private.jpg"
    shutil.copy(project / "locations" / "loc_grace.jpg", secret)
    (project / "locations" / "loc_grace.jpg").unlink()
    (project / "locations" / "loc_grace.jpg").symlink_to(secret)
    out = tmp_path / "runway"
    code, text = export(project, "runway", out, capsys)
    assert code == 1
    assert "outside the project folder" in text and "loc_grace.jpg" in text
    exported = b"".join(tree(out).values())
    assert base64.b64encode(secret.read_bytes()[:300])[:200] not in exported
    assert len(tree(out)) == len(EXPECTED_HANDLES) - 1


def test_the_folder_is_required_and_manifest_stays_the_default(project, tmp_path, capsys):
    assert main(["export", str(project), "--format", "veo"]) == 2
    assert "-o DIR" in capsys.readouterr().err
    assert main(["export", str(project), "-o", str(tmp_path / "m.json")]) == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert {m["name"] for m in data["manifests"]} == {"props", "vehicles", "locations"}
    assert all("reviewed" in record for m in data["manifests"] for record in m["assets"])

