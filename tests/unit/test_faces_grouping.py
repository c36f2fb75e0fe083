"""Face grouping and a person's merge / split decisions (fast: embeddings at the Protocol seam)."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.store.edits import edit_field
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.duplicate_marks import strip_duplicate_prefix, with_duplicate_prefix
from vidpipe.pipeline.face_review import merge_face_groups, split_face
from vidpipe.pipeline.ingest import add_files
from vidpipe.store.models import Asset, FaceDecision, Source, StageProgress, StageStatus
from vidpipe.pipeline.stages.faces import FaceStage
from vidpipe.vision.faces import Face
from vidpipe.vision.grouping import cosine_distances, group_faces


def _unit(angle_deg: float, dims: int = 8) -> list[float]:
    """Unit vectors on a circle: cosine distance = 1 - cos(angle difference)."""
    v = np.zeros(dims)
    v[0], v[1] = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return v.tolist()


def test_average_linkage_does_not_chain():
    # Neighbours 14° apart (distance 0.030), ends 28° apart (0.117): single linkage at 0.05 would
    # chain all three; average linkage keeps the far end out.
    embeddings = [_unit(0), _unit(14), _unit(28)]
    d = cosine_distances(np.array(embeddings))
    assert d[0, 1] < 0.05 and d[1, 2] < 0.05 and d[0, 2] > 0.05
    labels = group_faces(embeddings, 0.05)
    assert len(set(labels)) == 2
    assert labels[0] == labels[1] != labels[2] or labels[1] == labels[2] != labels[0]


def test_constraints_and_many_faces():
    embeddings = [_unit(0), _unit(1), _unit(90), _unit(91)]
    assert group_faces(embeddings, 0.05) == [0, 0, 1, 1]
    assert group_faces(embeddings, 0.05, cannot=[(0, 1)]) == [0, 1, 2, 2]
    assert group_faces(embeddings, 0.05, must=[(1, 2)]) == [0, 0, 0, 0]
    # A "not the same" pair wins over a merge that would join them.
    assert group_faces(embeddings, 0.05, must=[(1, 2)], cannot=[(0, 3)]) != [0, 0, 0, 0]

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(500, 128))
    faces = np.repeat(centres, 10, axis=0) + rng.normal(scale=0.03, size=(5000, 128))
    labels = group_faces(faces, 0.065)
    assert len(set(labels)) == 500
    assert all(len(set(labels[i * 10 : (i + 1) * 10])) == 1 for i in range(500))


def test_duplicate_prefix_is_never_doubled_and_keeps_text():
    text = with_duplicate_prefix("tall man, red scarf", "zidane face 1")
    assert text == "(Duplicate of zidane face 1) tall man, red scarf"
    assert with_duplicate_prefix(text, "zidane face 1") == text
    assert (
        with_duplicate_prefix(text, "other face 2")
        == "(Duplicate of other face 2) tall man, red scarf"
    )
    assert strip_duplicate_prefix(text) == "tall man, red scarf"
    assert with_duplicate_prefix("", "p") == "(Duplicate of p)"
    assert with_duplicate_prefix("(Duplicate of p)", None) == ""


class FixedFaces:
    """A face finder at the Protocol seam: one face per image, embedding chosen by colour."""

    device = "fake"
    identity = "fixed-faces"

    def __init__(self, by_red: dict[int, tuple[float, float]]):
        self.by_red = by_red  # red channel -> (angle, confidence)
        self.calls = 0

    def find(self, image):
        self.calls += 1
        red = image.getpixel((0, 0))[0]
        angle, confidence = self.by_red[red]
        w, h = image.size
        return [
            Face(w * 0.3, h * 0.3, w * 0.6, h * 0.7, confidence, _unit(angle)),
            Face(0, 0, w, h, 0.0, _unit(180)),
        ]  # deepface's "no face" stand-in: dropped


@pytest.fixture
def three_faces(session, make_image):
    paths = [
        make_image(f"{name}.jpg", color=(red, 0, 0))
        for name, red in (("anna1", 10), ("anna2", 60), ("bert", 120))
    ]
    add_files(session.project, session.settings, paths)
    finder = FixedFaces({10: (0.0, 0.99), 60: (1.0, 0.95), 120: (90.0, 0.97)})
    engine = ManifestingEngine(session.project, session.settings, stages=[FaceStage(finder)])
    manifest = Asset.select().first().manifest

    def run(mode="missing"):
        run = engine.process_manifest(manifest, mode)
        return StageProgress.get(StageProgress.run == run.id)

    return run, finder


def _faces():
    rows = Asset.select().where(Asset.source == Source.EXTRACTED, Asset.is_face_crop == True)  # noqa: E712
    return {a.source_asset.name: a for a in rows}


def test_groups_primary_and_duplicate_marking(three_faces):
    run, finder = three_faces
    row = run()
    assert row.status == StageStatus.DONE and row.done == 3, row.message
    assert "project: 3 face(s) in 2 group(s), 1 duplicate(s)" in row.message
    faces = _faces()
    assert set(faces) == {"anna1", "anna2", "bert"}  # the confidence-0 stand-ins were dropped
    anna1, anna2, bert = faces["anna1"], faces["anna2"], faces["bert"]
    assert anna1.face_group == anna2.face_group == anna1.id  # primary: highest confidence
    assert anna2.duplicate_of_id == anna1.id and anna1.duplicate_of_id is None
    assert anna2.description == f"(Duplicate of {anna1.name})"
    assert bert.face_group == bert.id and bert.duplicate_of_id is None and bert.description == ""

    # A person's description survives regrouping; the marker is not doubled.
    edit_field(anna2.id, "description", f"(Duplicate of {anna1.name}) looks older here")
    run("all")
    assert finder.calls == 6
    assert _faces()["anna2"].description == f"(Duplicate of {anna1.name}) looks older here"
    run()  # missing mode: no image is searched again, groups are still right
    assert finder.calls == 6 and _faces()["anna2"].duplicate_of_id == anna1.id


def test_split_and_merge_survive_reruns(three_faces):
    run, _ = three_faces
    run()
    faces = _faces()
    anna1, anna2, bert = faces["anna1"], faces["anna2"], faces["bert"]

    split_face(anna2.id)
    faces = _faces()
    assert faces["anna2"].face_group != faces["anna1"].face_group
    assert faces["anna2"].duplicate_of_id is None
    assert faces["anna2"].description == ""
    run("all")
    faces = _faces()
    assert faces["anna2"].face_group != faces["anna1"].face_group

    merge_face_groups(bert.id, anna1.id)
    faces = _faces()
    assert faces["bert"].face_group == faces["anna1"].face_group
    assert faces["anna2"].face_group != faces["anna1"].face_group  # the split still holds
    run("all")
    faces = _faces()
    assert faces["bert"].face_group == faces["anna1"].face_group
    assert faces["bert"].description == f"(Duplicate of {anna1.name})"

    # Changing one's mind: merging the split face back replaces the old decision.
    merge_face_groups(anna2.id, anna1.id)
    run("all")
    faces = _faces()
    assert len({f.face_group for f in faces.values()}) == 1
    assert FaceDecision.select().where(FaceDecision.same == False).count() == 0  # noqa: E712
