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
from pathlib import Path

import pytest
from PIL import Image
from support.reference_sets import (
    check_kohya_layout,
    check_runway_set,
    check_veo_set,
    tree,
)

from vidpipe.cli import main
from vidpipe.review.reference_sets import kohya, runway
from vidpipe.review.reference_sets.common import ExportReport, SetContext
from vidpipe.review.reference_sets.output import ExportFolder
from vidpipe.review.reference_sets.subjects import object_subjects
from vidpipe.store.models import Asset, Character
from vidpipe.store.session import open_project


@pytest.fixture
def core_stages(monkeypatch):
    """The contact sheet, offline prompts and tags: real stages, no model to load (the
    reference sets read what the pipeline wrote; characters have tests of their own)."""
    from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
    from vidpipe.pipeline.stages.prompts import PromptStage
    from vidpipe.pipeline.stages.tags import TagStage

    monkeypatch.setattr(
        "vidpipe.pipeline.engine.default_stages",
        lambda settings: [ContactSheetStage(), PromptStage(), TagStage()],
    )


@pytest.fixture
def project(tmp_path, core_stages, bus_jpg, gracehopper_jpg, zidane_jpg):
    """A processed project. props/ and vehicles/ each have an OBJ_01 (props/, the older
    manifest, keeps the bare tag; vehicles/ is qualified); locations/ holds a photo and two images far outside Runway's aspect
    ratios. Two characters span cast/ and street/: PERSON_01 with four images in three roles
    (the primary a person picked, a 4:1 full-body strip) and a person's description that
    does not name the handle; PERSON_02 with one image and no description yet."""
    root = tmp_path / "proj"
    assert main(["init", str(root)]) == 0
    for folder, name, source in (
        ("props", "bus.jpg", bus_jpg),
        ("vehicles", "obj_zidane.jpg", zidane_jpg),
        ("locations", "loc_grace.jpg", gracehopper_jpg),
        ("cast", "grace.jpg", gracehopper_jpg),
        ("street", "zidane.jpg", zidane_jpg),
    ):
        (root / folder).mkdir(exist_ok=True)
        shutil.copy(source, root / folder / name)
    Image.new("RGB", (1800, 400), (30, 90, 200)).save(root / "locations" / "loc_banner.png")
    Image.new("RGB", (300, 1000), (200, 160, 40)).save(root / "locations" / "loc_tower.png")
    with Image.open(gracehopper_jpg) as grace:
        grace.crop((120, 60, 400, 340)).save(root / "cast" / "grace_close.png")
        grace.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "cast" / "grace_turned.jpg")
        strip = Image.new("RGB", (2000, 500), (240, 240, 240))
        strip.paste(grace.resize((420, 500)), (790, 0))
        strip.save(root / "street" / "grace_strip.jpg")
    assert main(["process", str(root)]) == 0
    with open_project(root):
        cast_characters()
    # What a person does: describe the character, pick its primary image.
    description = (
        "A woman in her late seventies, short grey curls, US Navy dress blues "
        "with rear admiral insignia."
    )
    assert main(["characters", str(root), "describe", "PERSON_01", description]) == 0
    assert main(["characters", str(root), "primary", "PERSON_01", "street/grace_strip.jpg"]) == 0
    return root


def cast_characters() -> None:
    """What the face stage records for characters (its own tests cover how it finds them)."""

    def assign(file: str, character: Character, role: str, sharpness: float) -> None:
        Asset.update(character=character, character_role=role, sharpness=sharpness).where(
            Asset.file_path == file
        ).execute()

    grace = Character.create(number=1, handle="PERSON_01", name="Grace")
    assign("cast/grace.jpg", grace, "front", 80.0)
    assign("cast/grace_turned.jpg", grace, "front", 90.0)
    assign("cast/grace_close.png", grace, "closeup", 70.0)
    assign("street/grace_strip.jpg", grace, "full_body", 50.0)
    zidane = Character.create(number=2, handle="PERSON_02")
    assign("street/zidane.jpg", zidane, "front", 60.0)


def export(root: Path, fmt: str, out: Path, capsys) -> tuple[int, str]:
    code = main(["export", str(root), "--format", fmt, "-o", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


EXPECTED_HANDLES = {
    "PERSON_01",
    "PERSON_02",
    "OBJ_01",
    "vehicles_OBJ_01",
    "ENV_01",
    "ENV_02",
    "ENV_03",
}


def test_veo_sets_validate_as_google_genai_configs(project, tmp_path, capsys):
    out = tmp_path / "veo"
    code, text = export(project, "veo", out, capsys)
    assert code == 0, text
    files = tree(out)
    assert set(files) == {f"{handle}.json" for handle in EXPECTED_HANDLES}
    for name, raw in files.items():
        check_veo_set(name, raw)
    # An object's prompt is its own prompt, renamed to the handle it leaves under.
    vehicles = json.loads(files["vehicles_OBJ_01.json"])
    head, rest = vehicles["prompt"].split(", ", 1)
    assert head == "vehicles_OBJ_01" and "OBJ_01" not in rest and "[offline]" not in rest


def test_runway_sets_meet_the_gen4_reference_rules(project, tmp_path, capsys):
    out = tmp_path / "runway"
    code, text = export(project, "runway", out, capsys)
    assert code == 0, text
    files = tree(out)
    assert set(files) == {f"{handle}.json" for handle in EXPECTED_HANDLES}
    for raw in files.values():
        check_runway_set(raw)
    # The 4.5:1 banner, the 0.3:1 tower and the 4:1 strip were padded (and the export said so).
    assert text.count("padded to an aspect ratio") == 3
    # A qualified handle is a valid tag as it is: no mapping needed.
    for handle in ("OBJ_01", "vehicles_OBJ_01"):
        document = json.loads(files[f"{handle}.json"])
        assert document["referenceImages"][0]["tag"] == handle
        assert document["promptText"].startswith(f"@{handle}, ")
    assert "Runway tag" not in text


def decoded(uri_or_base64: str) -> Image.Image:
    data = uri_or_base64.split(",", 1)[-1]
    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    image.load()
    return image


def test_a_character_leaves_with_its_primary_first_and_varied_roles(project, tmp_path, capsys):
    for fmt in ("veo", "runway"):
        assert export(project, fmt, tmp_path / fmt, capsys)[0] == 0
    veo = json.loads((tmp_path / "veo" / "PERSON_01.json").read_text())
    runway_doc = json.loads((tmp_path / "runway" / "PERSON_01.json").read_text())
    # The description a person wrote, naming the handle.
    assert veo["prompt"] == (
        "PERSON_01, A woman in her late seventies, short grey curls, US "
        "Navy dress blues with rear admiral insignia."
    )
    assert runway_doc["promptText"] == (
        "@PERSON_01, A woman in her late seventies, short grey curls, US Navy dress blues with "
        "rear admiral insignia. @PERSON_01_2 and @PERSON_01_3 show the same character as "
        "@PERSON_01."
    )
    # Primary (the picked full-body strip), then the sharpest front, then the closeup: three
    # roles, not the second front view.
    sizes = [decoded(ref["image"]["image_bytes"]).size for ref in veo["config"]["reference_images"]]
    assert sizes == [(1024, 256), (517, 606), (280, 280)]
    runway_images = [decoded(ref["uri"]) for ref in runway_doc["referenceImages"]]
    assert [ref["tag"] for ref in runway_doc["referenceImages"]] == [
        "PERSON_01",
        "PERSON_01_2",
        "PERSON_01_3",
    ]
    assert [image.size for image in runway_images] == [(1024, 512), (517, 606), (280, 280)]
    # The strip's padding is grey, the picture centred in it.
    assert runway_images[0].getpixel((512, 10)) == pytest.approx((128, 128, 128), abs=3)
    # No description yet: the primary image's own prompt stands in, and the export says it
    # is an offline one.
    second = json.loads((tmp_path / "veo" / "PERSON_02.json").read_text())
    assert second["prompt"].startswith("PERSON_02, ") and "[offline]" not in second["prompt"]
    assert len(second["config"]["reference_images"]) == 1


def test_kohya_cli_writes_a_training_set_per_character(project, tmp_path, capsys):
    out = tmp_path / "kohya"
    code, text = export(project, "kohya", out, capsys)
    assert code == 0, text
    config = check_kohya_layout(out)
    subsets = config["datasets"][0]["subsets"]
    assert [s["class_tokens"] for s in subsets] == ["PERSON_01", "PERSON_02"]
    assert [s["num_repeats"] for s in subsets] == [25, 50]
    assert sorted(p.name for p in (out / "PERSON_01").iterdir()) == [
        f"PERSON_01_{i:02d}.{ext}" for i in range(1, 5) for ext in ("png", "txt")
    ]
    # Only characters: objects and environments are not LoRA subjects.
    assert sorted(p.name for p in out.iterdir()) == [
        ".vidpipe-export",
        "PERSON_01",
        "PERSON_02",
        "dataset_config.toml",
    ]
    # A character that loses an image: the next export removes the image it wrote before.
    with open_project(project):
        Asset.update(character=None).where(Asset.file_path == "cast/grace_close.png").execute()
    code, text = export(project, "kohya", out, capsys)
    assert code == 0 and "removed PERSON_01/PERSON_01_04.png" in text
    assert len(list((out / "PERSON_01").glob("*.png"))) == 3
    check_kohya_layout(out)


def test_runway_tags_and_prompt_fit_any_handle():
    for handle in (
        "PERSON_01",
        "HERO",
        "Zoë Saldaña",
        "01_twin",
        "X",
        "a" * 40,
        "street/OBJ_02",
        "vehicles_OBJ_01",
        "A_LONG_HANDLE_16",
    ):
        for count in (1, 2, 3):
            tag = runway.runway_tag(handle, count)
            for extra in runway.reference_tags(tag, count):
                assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,15}", extra), (handle, extra)
    assert runway.runway_tag("PERSON_01", 3) == "PERSON_01"
    # 15 characters: kept for a single reference, mapped where "_2" would not fit.
    assert runway.runway_tag("vehicles_OBJ_01", 1) == "vehicles_OBJ_01"
    assert runway.runway_tag("vehicles_OBJ_01", 2) != "vehicles_OBJ_01"
    assert runway.runway_tag("a" * 40) != runway.runway_tag("a" * 41)  # the digest tells them apart

    from vidpipe.review.reference_sets.subjects import ReferenceSubject, SubjectKind

    long = ReferenceSubject("HERO", SubjectKind.CHARACTER, "word " * 400 + "HERO", ())
    text = runway.prompt_text(long, ["HERO", "HERO_2", "HERO_3"])
    assert len(text) <= runway.RUNWAY_MAX_PROMPT_CHARS
    assert text.startswith("@HERO, word") and text.endswith(
        "@HERO_2 and @HERO_3 show the same character as @HERO."
    )


def test_kohya_writer_takes_any_subject(project, tmp_path):
    """The kohya writer on other subjects than characters (objects, whose handles are
    qualified): tomllib reads the config, every image_dir exists, every image has its
    caption, each caption starts with the trigger."""
    out = tmp_path / "kohya"
    with open_project(project) as session:
        subjects = object_subjects()
        report = ExportReport()
        folder = ExportFolder(session.project, out, holds_images=True)
        kohya.write_kohya(
            SetContext(session.project, session.settings.max_image_pixels, report), subjects, folder
        )
    assert not report.problems and report.subjects == len(subjects) == 5
    check_kohya_layout(out)


def test_exports_are_deterministic(project, tmp_path, capsys):
    for fmt in ("veo", "runway", "kohya"):
        first, second = tmp_path / f"{fmt}-1", tmp_path / f"{fmt}-2"
        assert export(project, fmt, first, capsys)[0] == 0
        assert export(project, fmt, second, capsys)[0] == 0
        assert tree(first, True) == tree(second, True), fmt
        # Again into the same folder: the same bytes, nothing added.
        assert export(project, fmt, first, capsys)[0] == 0
        assert tree(first, True) == tree(second, True), fmt


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every file under ``root`` but ``skip`` and SQLite's own files, by content digest."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if skip in path.parents or name.startswith("vidpipe.db"):
                continue
            out[str(path)] = (
                hashlib.sha256(path.read_bytes()).hexdigest()
                if not path.is_symlink()
                else os.readlink(path)
            )
    return out


def test_writes_nothing_outside_its_folder(project, tmp_path, capsys):
    for fmt in ("veo", "runway", "kohya"):
        out = tmp_path / "sets" / fmt
        before = snapshot(tmp_path, out)
        assert export(project, fmt, out, capsys)[0] == 0
        assert snapshot(tmp_path, out) == before, fmt


def test_an_object_tag_a_character_took_as_handle_is_qualified(project, tmp_path, capsys):
    assert main(["characters", str(project), "rename", "PERSON_02", "ENV_02"]) == 0, (
        capsys.readouterr()
    )
    code, text = export(project, "veo", tmp_path / "veo", capsys)
    assert code == 0, text
    names = set(tree(tmp_path / "veo"))
    assert {"ENV_02.json", "locations_ENV_02.json", "ENV_01.json"} <= names
    assert json.loads((tmp_path / "veo" / "ENV_02.json").read_text())["prompt"].startswith(
        "ENV_02, "
    )
    environment = json.loads((tmp_path / "veo" / "locations_ENV_02.json").read_text())
    assert environment["handle"] == "locations_ENV_02"


def test_a_new_manifest_never_renames_a_set_already_exported(project, tmp_path, bus_jpg, capsys):
    """Shot prompts name the handles of an earlier export: a manifest added later with a tag
    the project already uses takes the qualified handle, and the older set keeps its name
    and its bytes."""
    assert export(project, "veo", tmp_path / "before", capsys)[0] == 0
    (project / "zz_new").mkdir()
    shutil.copy(bus_jpg, project / "zz_new" / "obj_second_bus.jpg")
    assert main(["process", str(project)]) == 0
    assert export(project, "veo", tmp_path / "after", capsys)[0] == 0
    before, after = tree(tmp_path / "before"), tree(tmp_path / "after")
    assert set(after) - set(before) == {"zz_new_OBJ_01.json"}
    for name, raw in before.items():
        assert after[name] == raw, name


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
            kohya.write_kohya(
                SetContext(session.project, session.settings.max_image_pixels, ExportReport()),
                subjects,
                folder,
            )
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
    assert (
        main(
            [
                "export",
                str(project),
                "--format",
                "veo",
                "-o",
                str(tmp_path / "v"),
                "--manifest",
                "props",
            ]
        )
        == 2
    )
    assert "--format manifest only" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("mine")
    assert main(["export", str(project), "--format", "runway", "-o", str(tmp_path / "a_file")]) == 2
    assert "it is not a folder" in capsys.readouterr().err
    assert (tmp_path / "a_file").read_text() == "mine" and not (tmp_path / "v").exists()
    empty = tmp_path / "empty"
    assert main(["init", str(empty)]) == 0
    assert main(["export", str(empty), "--format", "kohya", "-o", str(tmp_path / "k")]) == 2
    assert "the project has no characters yet" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()
    assert main(["export", str(project), "-o", str(tmp_path / "m.json")]) == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert {m["name"] for m in data["manifests"]} == {
        "cast",
        "locations",
        "props",
        "street",
        "vehicles",
    }
    assert all(record["reviewed"] is False for m in data["manifests"] for record in m["assets"])
    assert [c["handle"] for c in data["characters"]] == ["PERSON_01", "PERSON_02"]
    assert data["characters"][0]["primary"] == {
        "manifest": "street",
        "tag": "REF_01",
        "file": "street/grace_strip.jpg",
        "role": "full_body",
    }


def test_a_handle_runway_cannot_take_is_mapped_and_said(project, tmp_path, capsys):
    assert (
        main(["characters", str(project), "rename", "PERSON_01", "THE_ADMIRAL_IN_DRESS_BLUES"]) == 0
    )
    code, text = export(project, "runway", tmp_path / "runway", capsys)
    assert code == 0, text
    document = json.loads((tmp_path / "runway" / "THE_ADMIRAL_IN_DRESS_BLUES.json").read_text())
    tags = [reference["tag"] for reference in document["referenceImages"]]
    base = runway.runway_tag("THE_ADMIRAL_IN_DRESS_BLUES", 3)
    assert tags == [base, f"{base}_2", f"{base}_3"]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,15}", tag) for tag in tags)
    assert document["promptText"].startswith(f"@{base}, A woman")
    assert f"THE_ADMIRAL_IN_DRESS_BLUES: Runway tag @{base}" in text


def test_a_new_export_replaces_the_previous_one_and_nothing_else(project, tmp_path, capsys):
    out = tmp_path / "veo"
    assert export(project, "veo", out, capsys)[0] == 0
    (out / "shot_list.json").write_text("{}")  # the team's own file
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    (out / "link.json").symlink_to(outside)
    # A record naming files that are not ours, or not in the folder, is no licence to remove.
    record = json.loads((out / ".vidpipe-export").read_text())
    assert record == {"format": "veo", "files": sorted(f"{h}.json" for h in EXPECTED_HANDLES)}
    record["files"] += ["../outside.json", "link.json", "/etc/hostname", "shot_list.json.bak"]
    (out / ".vidpipe-export").write_text(json.dumps(record))

    assert main(["characters", str(project), "rename", "PERSON_02", "HERO"]) == 0
    code, text = export(project, "veo", out, capsys)
    assert code == 0, text
    assert "removed PERSON_02.json" in text and text.count("removed ") == 1
    names = set(tree(out))
    assert "PERSON_02.json" not in names and "HERO.json" in names
    assert (out / "shot_list.json").read_text() == "{}" and outside.read_text() == "keep"
    assert (out / "link.json").is_symlink()
