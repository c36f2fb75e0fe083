"""Reprocessing one asset: detection + reverse prompting rerun for it alone, then the tags."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from vidpipe.cli import main
from vidpipe.store.edits import edit_field, history, suggestions
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import add_files
from vidpipe.store.models import (
    Asset,
    AssetState,
    RunStatus,
    Source,
    StageMark,
    StageProgress,
    StageStatus,
)
from vidpipe.pipeline.stages.detection import DetectionStage
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.pipeline.stages.tags import TagStage
from vidpipe.vision.detector import Box

REPROCESS_FIELDS = (
    "reverse_prompt",
    "visual_description",
    "quality_score",
    "detection_class",
    "detection_confidence",
    "is_face_crop",
    "crop_bbox",
)


class Boxes:
    device = "fake"
    identity = "boxes"

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, images):
        return [[Box(*b) for b in self.boxes] for _ in images]


@pytest.fixture
def scene(session, tmp_path):
    image = Image.new("RGB", (800, 600), (40, 120, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 60, 400, 540), fill=(200, 180, 160))
    draw.rectangle((480, 300, 720, 480), fill=(30, 30, 220))
    path = tmp_path / "scene.jpg"
    image.save(path, quality=95)
    add_files(session.project, session.settings, [path])
    detector = Boxes([(80, 60, 400, 540, 0.9, "person"), (480, 300, 720, 480, 0.8, "car")])
    engine = ManifestingEngine(
        session.project,
        session.settings,
        stages=[DetectionStage(detector), PromptStage(), TagStage()],
    )
    engine.process_manifest(Asset.get().manifest)
    return engine, detector


def _crop(cls_key: str) -> Asset:
    return Asset.get(
        Asset.source == Source.EXTRACTED, Asset.extraction_key.startswith(f"det:{cls_key}:")
    )


def _fields(asset_id: int) -> dict:
    asset = Asset.get_by_id(asset_id)
    return {f: getattr(asset, f) for f in REPROCESS_FIELDS} | {
        "name": asset.name,
        "content_hash": asset.content_hash,
    }


def test_reprocess_a_crop_updates_its_fields_and_keeps_a_person_edit(session, scene):
    engine, detector = scene
    car, person = _crop("car"), _crop("person")
    assert car.reverse_prompt and car.manifest_tag == "OBJ_01"
    edit_field(car.id, "reverse_prompt", "my own prompt for the blue car")
    person_before = _fields(person.id)
    old_visual = car.visual_description

    # The detector now sees it as a truck, a little larger and less sure.
    detector.boxes = [(80, 60, 400, 540, 0.9, "person"), (470, 290, 730, 490, 0.7, "truck")]
    run = engine.reprocess_asset(car.id)
    assert run.status == RunStatus.DONE, run.error
    stages = {r.stage: r.status for r in StageProgress.select().where(StageProgress.run == run.id)}
    assert stages == {
        "detection": StageStatus.DONE,
        "prompts": StageStatus.DONE,
        "tags": StageStatus.DONE,
    }
    after = Asset.get_by_id(car.id)
    assert after.detection_class == "truck" and after.detection_confidence == pytest.approx(0.7)
    assert after.crop_bbox == [470, 290, 730, 490] and after.is_face_crop is False
    with Image.open(session.project.absolute(after.file_path)) as crop:
        assert crop.size == (260, 200)
    assert after.reverse_prompt == "my own prompt for the blue car"  # the person's text stays
    assert any(s.field == "reverse_prompt" and "truck" in s.new_value for s in suggestions(car.id))
    assert after.visual_description != old_visual and "truck" in after.visual_description
    assert _fields(person.id) == person_before  # only the asked-for asset changed
    assert Asset.select().where(Asset.source == Source.EXTRACTED).count() == 2

    run = engine.reprocess_asset(car.id, overwrite=True)
    assert run.status == RunStatus.DONE
    after = Asset.get_by_id(car.id)
    assert "truck" in after.reverse_prompt
    assert any(
        e.old_value == "my own prompt for the blue car" for e in history(car.id, "reverse_prompt")
    )


def test_reprocess_an_uploaded_image_redoes_its_crops(session, scene):
    engine, detector = scene
    source = Asset.get(Asset.source == Source.UPLOADED)
    car = _crop("car")
    detector.boxes = [(80, 60, 400, 540, 0.95, "person")]
    run = engine.reprocess_asset(source.id)
    assert run.status == RunStatus.DONE
    assert Asset.get_by_id(car.id).state == AssetState.REMOVED
    assert _crop("person").detection_confidence == pytest.approx(0.95)


def test_reprocess_that_cuts_a_new_crop_prompts_it_in_the_same_job(session, scene):
    engine, detector = scene
    source = Asset.get(Asset.source == Source.UPLOADED)
    person_prompt = _crop("person").reverse_prompt
    detector.boxes.append((600, 40, 780, 200, 0.85, "dog"))
    run = engine.reprocess_asset(source.id)
    assert run.status == RunStatus.DONE, run.error
    dog = _crop("dog")
    assert dog.reverse_prompt and dog.visual_description and dog.prompt_origin == "offline"
    # More confident than the car, but the car's tag was given first and stays: tags never move.
    assert dog.manifest_tag == "OBJ_02"
    assert _crop("car").manifest_tag == "OBJ_01"
    assert StageMark.get_or_none(StageMark.asset == dog.id, StageMark.stage == "prompts")
    prompts = StageProgress.get(StageProgress.run == run.id, StageProgress.stage == "prompts")
    assert prompts.done == prompts.total == 2  # the image asked for and its new crop, no more
    assert _crop("person").reverse_prompt == person_prompt


def test_reprocess_cli_by_tag_and_by_path(session, scene, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("VIDPIPE_MODELS_DIR", str(tmp_path / "no-models"))
    root = str(session.project.root)
    tag = _crop("person").manifest_tag
    # The real default stages: no YOLO weights here, so detection says how to get them.
    assert main(["reprocess", root, tag]) == 0
    out = capsys.readouterr().out
    assert "vidpipe models pull" in out and "reverse_prompt" in out
    assert main(["reprocess", root, "scene.jpg"]) == 0
    assert "reprocessing asset" in capsys.readouterr().out
    assert main(["reprocess", root, "NOPE_99"]) == 2
    assert "no asset" in capsys.readouterr().err


def test_models_import_and_pull_from_a_mirror(tmp_path, capsys, monkeypatch):
    import zipfile

    monkeypatch.setenv("VIDPIPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface"))
    fake = tmp_path / "yolov8n.pt"
    with zipfile.ZipFile(fake, "w") as archive:  # a checkpoint is a zip; contents irrelevant here
        archive.writestr("archive/data.pkl", b"x" * 200_000)
    assert main(["models", "import", str(fake)]) == 0
    assert (tmp_path / "models" / "yolov8n.pt").read_bytes() == fake.read_bytes()
    main(["models", "list"])
    assert "MISSING" not in capsys.readouterr().out.split("faces")[0]

    (tmp_path / "models" / "yolov8n.pt").unlink()
    assert main(["models", "pull", "--url", fake.as_uri()]) == 0
    assert (tmp_path / "models" / "yolov8n.pt").is_file()
    assert (
        tmp_path
        / "deepface"
        / ".deepface"
        / "weights"
        / "dlib_face_recognition_resnet_model_v1.dat"
    ).is_file()

    html = tmp_path / "error.pt"
    html.write_text("<html>rate limited</html>")
    assert main(["models", "import", str(html)]) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
