"""The project-wide regrouping when several daemons finish their face stages at once: real
processes on a real PostgreSQL database, started together, each adding faces of new people and
regrouping the whole project. The advisory lock makes them take turns, so no two create the same
character: one character per person, numbered from PERSON_01 without gaps, and every worker
succeeds. (The race the lock prevents, two transactions creating the same PERSON_NN between
reading the characters and inserting one, is a window of milliseconds: this test passed with the
lock taken out too, so it shows the outcome, not that the lock is needed.)"""

from __future__ import annotations

import math
import subprocess
import sys

from support.waiting import wait_for
from vidpipe.store.database import open_database
from vidpipe.store.models import Asset, AssetState, Character, Manifest, Source

WORKERS = 4
ROUNDS = 3
BACKGROUND = 100
DIMENSIONS = 3 + WORKERS * ROUNDS
REGROUP = """
import pathlib, sys, time
from vidpipe.store.database import open_database
from vidpipe.store.models import Asset, Manifest, Source
from vidpipe.pipeline.characters.regroup import regroup_project
url, go, worker = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
database = open_database(url)
manifest = Manifest.create(name=f"drop{{worker}}", folder=f"drop{{worker}}")
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:  # start together
    time.sleep(0.005)
for round in range({rounds}):
    person = 3 + worker * {rounds} + round  # a new person: an axis of their own
    vector = [0.0] * {dimensions}
    vector[person] = 1.0
    photo = Asset.create(manifest=manifest, name=f"p{{person}}", file_path=f"drop/p{{person}}.jpg",
                         content_hash=f"p{{person}}", state="processed")
    Asset.create(manifest=manifest, name=f"p{{person}} face", source=Source.EXTRACTED,
                 source_asset=photo, extraction_key="face:face:0", is_face_crop=True,
                 file_path=f".vidpipe/crops/p{{person}}.jpg", content_hash=f"p{{person}}/face",
                 detection_confidence=0.99, crop_bbox=[0, 0, 10, 10], face_embedding=vector,
                 state="processed")
    regroup_project(0.1)
database.close()
"""


def _unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))] + [0.0] * (
        DIMENSIONS - 2
    )


def _faces(manifest: str, people: dict[str, float]) -> None:
    folder = Manifest.create(name=manifest, folder=manifest)
    for name, angle in people.items():
        _face(folder, name, angle)


def _face(folder: Manifest, name: str, angle: float) -> None:
    manifest = folder.name
    photo = Asset.create(
        manifest=folder,
        name=name,
        file_path=f"{manifest}/{name}.jpg",
        content_hash=f"{manifest}/{name}",
        state=AssetState.PROCESSED,
    )
    Asset.create(
        manifest=folder,
        name=f"{name} face",
        source=Source.EXTRACTED,
        source_asset=photo,
        extraction_key="face:face:0",
        is_face_crop=True,
        file_path=f".vidpipe/crops/{manifest}-{name}.jpg",
        content_hash=f"{manifest}/{name}/face",
        detection_confidence=0.99,
        crop_bbox=[0, 0, 10, 10],
        face_embedding=_unit(angle),
        state=AssetState.PROCESSED,
    )


def test_daemons_regrouping_at_once_create_each_character_once(postgres_url, tmp_path):
    database = open_database(postgres_url)
    _faces("cast", {"anna": 0.0, "bert": 90.0})
    _faces("street", {"anna_again": 0.5, "carl": 180.0})
    # More of anna, so that each regrouping reads and writes a few hundred rows.
    _faces("archive", {f"anna_{n}": 1.0 + n * 0.001 for n in range(BACKGROUND)})
    database.close()

    go = tmp_path / "go"
    script = REGROUP.format(rounds=ROUNDS, dimensions=DIMENSIONS)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres_url, str(go), str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    database = open_database(postgres_url)
    wait_for(lambda: Manifest.select().count() == 3 + WORKERS, what="every worker ready")
    database.close()
    go.touch()
    failures = [(w.wait(timeout=120), w.stderr.read()) for w in workers]
    assert all(code == 0 for code, _ in failures), [err for code, err in failures if code]

    database = open_database(postgres_url)
    try:
        characters = {c.id: c.handle for c in Character.select()}
        people = 3 + WORKERS * ROUNDS
        assert sorted(characters.values()) == [f"PERSON_{n:02d}" for n in range(1, people + 1)]
        assert (
            len({a.character_id for a in Asset.select().where(Asset.is_face_crop == True)})  # noqa: E712
            == people
        )
        of = {
            a.name: characters[a.character_id]
            for a in Asset.select().where(Asset.is_face_crop == True)  # noqa: E712
        }
        assert of["anna face"] == of["anna_again face"]
        assert len({of["anna face"], of["bert face"], of["carl face"]}) == 3
    finally:
        database.close()
