"""Stable tags on a real PostgreSQL server: two daemons (two threads, each on its own
connection) giving tags in one manifest at the same moment never hand out one number twice
(the numbering advisory lock), and a retag and its undo work there as on SQLite."""

from __future__ import annotations

import threading

from vidpipe.pipeline.tags import assign_tags
from vidpipe.review.retag import apply_retag, undo_retag
from vidpipe.store.database import open_database
from vidpipe.store.models import Asset, AssetType, Manifest

ROUNDS = 15


def test_two_writers_never_hand_out_one_number_twice(postgres_url):
    database = open_database(postgres_url)
    manifest = Manifest.create(name="m", folder="m")
    start = threading.Barrier(2)
    failures = []

    def daemon(name: str) -> None:
        try:
            for n in range(ROUNDS):
                mine = Asset.create(
                    manifest=manifest,
                    name=f"{name}{n}",
                    file_path=f"m/{name}{n}.png",
                    content_hash=f"{name}{n}",
                    asset_type=AssetType.CHARACTER,
                )
                start.wait()  # both ask for numbers at once, each for its own job's asset
                assign_tags(manifest, within={mine.id})
        except Exception as exc:
            failures.append(exc)
            start.abort()
        finally:
            database.close()

    daemons = [threading.Thread(target=daemon, args=(name,)) for name in ("a", "b")]
    for thread in daemons:
        thread.start()
    for thread in daemons:
        thread.join()
    assert failures == []
    tags = [a.manifest_tag for a in Asset.select()]
    assert len(tags) == 2 * ROUNDS and None not in tags
    assert sorted(tags) == [f"CHAR_{n:02d}" for n in range(1, 2 * ROUNDS + 1)]
    database.close()


def test_retag_and_its_undo_on_postgres(postgres_url):
    database = open_database(postgres_url)
    manifest = Manifest.create(name="m", folder="m")
    late = Asset.create(
        manifest=manifest,
        name="late",
        file_path="m/late.png",
        content_hash="l",
        asset_type=AssetType.CHARACTER,
        sort_order=5,
    )
    assign_tags(manifest)
    early = Asset.create(
        manifest=manifest,
        name="early",
        file_path="m/early.png",
        content_hash="e",
        asset_type=AssetType.CHARACTER,
        sort_order=1,
        reverse_prompt="CHAR_02 beside CHAR_01",
    )
    assign_tags(manifest)
    assert (Asset.get_by_id(late.id).manifest_tag, Asset.get_by_id(early.id).manifest_tag) == (
        "CHAR_01",
        "CHAR_02",
    )

    _, change = apply_retag([manifest])
    assert change is not None
    assert Asset.get_by_id(early.id).manifest_tag == "CHAR_01"
    assert Asset.get_by_id(early.id).reverse_prompt == "CHAR_01 beside CHAR_02"
    undo_retag([manifest])
    assert Asset.get_by_id(early.id).manifest_tag == "CHAR_02"
    assert Asset.get_by_id(early.id).reverse_prompt == "CHAR_02 beside CHAR_01"
    database.close()
