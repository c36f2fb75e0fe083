"""The export JSON: the spec's keys, links resolved to tags, and no secret anywhere."""

from __future__ import annotations

import json
import shutil

from vidpipe.config.settings import load_settings
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.review.export import build_export, write_export
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, AssetType, Manifest, Source
from vidpipe.store.session import open_project
from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
from vidpipe.pipeline.stages.tags import TagStage

SPEC_ASSET_KEYS = {
    "tag",
    "name",
    "type",
    "source",
    "parent_tag",
    "file",
    "reverse_prompt",
    "visual_description",
    "quality_score",
    "detection_class",
    "detection_confidence",
    "is_face_crop",
    "crop_bbox",
    "duplicate_of",
}
SPEC_MANIFEST_KEYS = {"name", "contact_sheets", "assets"}


def build_project(session, bus_jpg, zidane_jpg):
    root = session.project.root
    (root / "street").mkdir()
    shutil.copy(bus_jpg, root / "street" / "bus.jpg")
    shutil.copy(zidane_jpg, root / "street" / "zidane.jpg")
    reconcile(session.project, session.settings)
    zidane = Asset.get(Asset.file_path == "street/zidane.jpg")
    common = dict(
        manifest=zidane.manifest_id,
        source=Source.EXTRACTED,
        source_asset=zidane.id,
        asset_type=AssetType.CHARACTER,
        content_hash="c",
    )
    primary = Asset.create(
        name="face 0",
        extraction_key="face:0",
        is_face_crop=True,
        file_path=".vidpipe/crops/z-face0.png",
        detection_confidence=0.99,
        crop_bbox=[700, 40, 900, 300],
        **common,
    )
    Asset.create(
        name="face 1",
        extraction_key="face:1",
        is_face_crop=True,
        file_path=".vidpipe/crops/z-face1.png",
        detection_confidence=0.95,
        crop_bbox=[400, 200, 560, 420],
        duplicate_of=primary.id,
        **common,
    )
    Asset.create(
        name="person 0",
        extraction_key="det:person:0",
        detection_class="person",
        detection_confidence=0.9,
        crop_bbox=[600, 0, 1200, 720],
        file_path=".vidpipe/crops/z-person0.png",
        quality_score=7.5,
        reverse_prompt="a footballer",
        visual_description="a man in a dark suit",
        **common,
    )
    engine = ManifestingEngine(
        session.project, session.settings, stages=[ContactSheetStage(), TagStage()]
    )
    engine.process_manifest(Manifest.get(Manifest.name == "street"))


def test_export_has_the_spec_keys_and_resolved_links(session, bus_jpg, zidane_jpg, tmp_path):
    build_project(session, bus_jpg, zidane_jpg)
    path = write_export(session.project, tmp_path / "out" / "manifest.json")
    data = json.loads(path.read_text(encoding="utf-8"))

    assert set(data) >= {"manifests"}
    [manifest] = data["manifests"]
    assert set(manifest) >= SPEC_MANIFEST_KEYS
    assert manifest["name"] == "street"
    assert manifest["contact_sheets"] and all(
        (session.project.root / sheet).is_file() for sheet in manifest["contact_sheets"]
    )
    assert len(manifest["assets"]) == 5
    for record in manifest["assets"]:
        assert set(record) >= SPEC_ASSET_KEYS, SPEC_ASSET_KEYS - set(record)

    by_file = {r["file"]: r for r in manifest["assets"]}
    bus, zidane = by_file["street/bus.jpg"], by_file["street/zidane.jpg"]
    assert (bus["source"], bus["parent_tag"], bus["type"]) == ("uploaded", None, "UNKNOWN")
    assert bus["tag"] == "REF_01" and zidane["tag"] == "REF_02"
    face0, face1 = by_file[".vidpipe/crops/z-face0.png"], by_file[".vidpipe/crops/z-face1.png"]
    person = by_file[".vidpipe/crops/z-person0.png"]
    assert face0["parent_tag"] == face1["parent_tag"] == person["parent_tag"] == "REF_02"
    assert face1["duplicate_of"] == face0["tag"] and face0["duplicate_of"] is None
    assert face0["is_face_crop"] is True and person["is_face_crop"] is False
    assert person == {
        **person,
        "tag": "CHAR_03",
        "detection_class": "person",
        "detection_confidence": 0.9,
        "crop_bbox": [600, 0, 1200, 720],
        "quality_score": 7.5,
        "reverse_prompt": "a footballer",
        "visual_description": "a man in a dark suit",
        "source": "extracted",
    }
    assert [r["tag"] for r in manifest["assets"]] == sorted(r["tag"] for r in manifest["assets"])
    # Written atomically: no temporary file left next to it.
    assert [p.name for p in path.parent.iterdir()] == ["manifest.json"]


def test_export_filters_manifests_and_skips_removed(session, bus_jpg, zidane_jpg):
    build_project(session, bus_jpg, zidane_jpg)
    (session.project.root / "street" / "bus.jpg").unlink()
    reconcile(session.project, session.settings)
    other = Manifest.create(name="other", folder="other")
    data = build_export(session.project, ["street"])
    assert [m["name"] for m in data["manifests"]] == ["street"]
    assert "street/bus.jpg" not in {r["file"] for r in data["manifests"][0]["assets"]}
    assert other.name not in json.dumps(data)


def test_duplicate_in_another_manifest_is_still_resolved(session, bus_jpg, zidane_jpg):
    build_project(session, bus_jpg, zidane_jpg)
    face0 = Asset.get(Asset.extraction_key == "face:0")
    other = Manifest.create(name="other", folder="other")
    Asset.create(
        manifest=other,
        name="elsewhere",
        file_path="other/x.png",
        content_hash="x",
        duplicate_of=face0.id,
        manifest_tag="CHAR_01",
    )
    data = build_export(session.project, ["other"])
    assert data["manifests"][0]["assets"][0]["duplicate_of"] == face0.manifest_tag


def test_no_api_key_in_export_database_or_logs(tmp_path, monkeypatch, bus_jpg, zidane_jpg):
    secret = "AIzaSy-TEST-SECRET-0123456789abcdef"
    monkeypatch.setenv("GEMINI_API_KEY", secret)
    root = tmp_path / "project"
    with open_project(root, create=True) as session:
        assert session.settings.gemini_api_key == secret  # it is there, and used...
        assert secret not in repr(session.settings)
        build_project(session, bus_jpg, zidane_jpg)
        out = write_export(session.project)
        session.database.execute_sql("PRAGMA wal_checkpoint(FULL)")
    assert load_settings(root).gemini_api_key == secret
    # ...but never written anywhere in the project folder (export, database, WAL, logs, config).
    for path in root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"API key leaked into {path}"
    assert out.is_file()
