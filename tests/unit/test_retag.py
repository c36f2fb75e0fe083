"""`vidpipe retag`: tags renumbered on purpose in the seed's order, the old tags rewritten in
every text in one pass (swaps stay swaps, CHAR_1 is not CHAR_10), printed old → new, and the
whole of it undone at once (by `retag --undo` or by undo on any one asset it touched)."""

from __future__ import annotations

import pytest

from vidpipe.cli import main
from vidpipe.errors import EditError
from vidpipe.pipeline.tags import assign_tags
from vidpipe.review.retag import apply_retag, plan_retag, rewrite_tags
from vidpipe.store.edits import edit_field, history, redo, undo, user_edited_fields
from vidpipe.store.models import (
    Asset,
    AssetState,
    AssetType,
    Author,
    FieldEdit,
    Manifest,
)
from vidpipe.store.session import open_project


def test_rewrite_is_one_pass_and_whole_tags_only():
    mapping = {"CHAR_01": "CHAR_02", "CHAR_02": "CHAR_01", "CHAR_1": "CHAR_9"}
    text = "CHAR_01 hands CHAR_02 a cup; CHAR_10 and XCHAR_01 and CHAR_01x stay; (CHAR_1)."
    assert rewrite_tags(text, mapping) == (
        "CHAR_02 hands CHAR_01 a cup; CHAR_10 and XCHAR_01 and CHAR_01x stay; (CHAR_9)."
    )


def image(manifest, name, asset_type, sort_order, **fields) -> Asset:
    return Asset.create(
        manifest=manifest,
        name=name,
        asset_type=asset_type,
        sort_order=sort_order,
        file_path=f"{manifest.name}/{name}.jpg",
        content_hash=name,
        **fields,
    )


@pytest.fixture
def shots(tmp_path):
    """A manifest whose tags were given over time (arrival order, not the seed's order), with
    prompts, a person's text and a duplicate mark naming them."""
    session = open_project(tmp_path / "project", create=True)
    manifest = Manifest.create(name="cast", folder="cast")
    late = image(manifest, "zed", AssetType.CHARACTER, 5)
    assign_tags(manifest)  # zed: CHAR_01 (it came first)
    early = image(manifest, "amy", AssetType.CHARACTER, 1)
    gone = image(manifest, "bob", AssetType.CHARACTER, 2)
    place = image(manifest, "street", AssetType.ENVIRONMENT, 0)
    assign_tags(manifest)  # amy CHAR_02, bob CHAR_03, street ENV_01
    filler = image(manifest, "cat", AssetType.CHARACTER, 3)
    assign_tags(manifest)  # cat CHAR_04
    Asset.update(state=AssetState.REMOVED).where(Asset.id == gone.id).execute()
    edit_field(late.id, "reverse_prompt", "CHAR_01, a tall man; CHAR_02 stands behind")
    Asset.update(reverse_prompt="CHAR_02, a woman next to CHAR_01 in ENV_01").where(
        Asset.id == early.id
    ).execute()
    Asset.update(description="(Duplicate of CHAR_04) a cat").where(Asset.id == filler.id).execute()
    yield (
        session,
        manifest,
        {"zed": late.id, "amy": early.id, "bob": gone.id, "street": place.id, "cat": filler.id},
    )
    session.close()


def tag(asset_id: int) -> str:
    return Asset.get_by_id(asset_id).manifest_tag


def test_retag_renumbers_rewrites_and_undoes_as_one_change(shots, capsys):
    session, manifest, ids = shots
    root = str(session.project.root)
    before = {name: tag(i) for name, i in ids.items()}
    assert before == {
        "zed": "CHAR_01",
        "amy": "CHAR_02",
        "bob": "CHAR_03",
        "street": "ENV_01",
        "cat": "CHAR_04",
    }

    assert main(["retag", root, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert {name: tag(i) for name, i in ids.items()} == before  # nothing written
    assert "dry run: 4 tag(s) would change" in out

    assert main(["retag", root]) == 0
    out = capsys.readouterr().out
    # Seed order: amy (1), cat (3), zed (5) active; bob (removed) after them.
    after = {name: tag(i) for name, i in ids.items()}
    assert after == {
        "amy": "CHAR_01",
        "cat": "CHAR_02",
        "zed": "CHAR_03",
        "bob": "CHAR_04",
        "street": "ENV_01",
    }
    for name in ids:  # old → new for every asset
        assert f"{before[name]} → {after[name]}" in " ".join(out.split())
    assert "ENV_01 → ENV_01" in " ".join(out.split()) and "(unchanged)" in out
    assert "(removed or failed)" in out

    zed, amy, cat = (Asset.get_by_id(ids[n]) for n in ("zed", "amy", "cat"))
    assert zed.reverse_prompt == "CHAR_03, a tall man; CHAR_01 stands behind"
    assert amy.reverse_prompt == "CHAR_01, a woman next to CHAR_03 in ENV_01"
    assert cat.description == "(Duplicate of CHAR_02) a cat"
    # A person's text stays theirs; machine text stays the machine's (not "edited by a person").
    assert "reverse_prompt" in user_edited_fields(zed.id)
    assert "reverse_prompt" not in user_edited_fields(amy.id)
    changes = {e.change for e in FieldEdit.select() if e.change and e.change.startswith("retag")}
    assert len(changes) == 1

    # The next new character follows the closed-up numbers.
    newcomer = image(manifest, "dan", AssetType.CHARACTER, 9)
    assert assign_tags(manifest) == {newcomer.id: "CHAR_05"}
    Asset.delete().where(Asset.id == newcomer.id).execute()

    # One undo on any asset the retag touched takes all of it back.
    undo(ids["cat"])
    assert {name: tag(i) for name, i in ids.items()} == before
    assert (
        Asset.get_by_id(ids["zed"]).reverse_prompt == "CHAR_01, a tall man; CHAR_02 stands behind"
    )
    assert (
        Asset.get_by_id(ids["amy"]).reverse_prompt == "CHAR_02, a woman next to CHAR_01 in ENV_01"
    )
    assert redo(ids["street"]) is None  # street's tag did not change: it holds no part of the retag
    redo(ids["amy"])
    assert {name: tag(i) for name, i in ids.items()} == after

    assert main(["retag", root, "--undo"]) == 0
    assert {name: tag(i) for name, i in ids.items()} == before
    assert "undid the retag" in capsys.readouterr().out
    assert main(["retag", root, "--undo"]) == 2
    assert "no retag to undo" in capsys.readouterr().err


def test_undo_refuses_when_a_field_was_edited_after_the_retag(shots):
    _session, manifest, ids = shots
    apply_retag([manifest])
    edit_field(ids["amy"], "reverse_prompt", "rewritten by hand")
    with pytest.raises(EditError, match="was changed after this change"):
        undo(ids["cat"])
    assert tag(ids["cat"]) == "CHAR_02"  # nothing half-undone
    undo(ids["amy"], "reverse_prompt")  # the later edit first ...
    undo(ids["cat"])  # ... then the retag goes back whole
    assert tag(ids["cat"]) == "CHAR_04"


def test_a_preview_that_went_stale_is_not_applied(shots):
    from vidpipe.errors import VidpipeError

    _session, manifest, ids = shots
    shown = [plan_retag(manifest)]
    image(manifest, "eve", AssetType.CHARACTER, 0)
    assign_tags(manifest)
    with pytest.raises(VidpipeError, match="changed since the preview"):
        apply_retag([manifest], expected=shown)
    assert tag(ids["zed"]) == "CHAR_01"


def test_retag_in_order_changes_nothing(shots, capsys):
    session, manifest, _ids = shots
    apply_retag([manifest])
    assert main(["retag", str(session.project.root), "--manifest", "cast"]) == 0
    assert "nothing to renumber" in capsys.readouterr().out
    assert main(["retag", str(session.project.root), "--manifest", "nope"]) == 2
    assert "no manifest nope" in capsys.readouterr().err


def test_manifest_slash_tag_names_an_asset_and_a_bare_tag_in_two_manifests_is_refused(
    shots, capsys
):
    session, _manifest, ids = shots
    root = str(session.project.root)
    other = Manifest.create(name="extras", folder="extras")
    extra = image(other, "ann", AssetType.CHARACTER, 0)
    assign_tags(other)
    assert tag(extra.id) == "CHAR_01"

    assert main(["edit", root, "CHAR_01", "name", "x"]) == 2
    err = capsys.readouterr().err
    assert "cast/CHAR_01" in err and "extras/CHAR_01" in err

    assert main(["edit", root, "extras/char_01", "name", "Ann"]) == 0
    assert Asset.get_by_id(extra.id).name == "Ann"
    assert main(["edit", root, "cast/CHAR_01", "description", "the lead"]) == 0
    assert Asset.get_by_id(ids["zed"]).description == "the lead"
    assert main(["edit", root, "extras/CHAR_09", "name", "x"]) == 2
    assert "has no tag CHAR_09" in capsys.readouterr().err
    assert [e.author for e in history(extra.id)] == [Author.USER]

    # A person's type change: the next number of the new type, said, one edit.
    capsys.readouterr()
    assert main(["edit", root, "extras/CHAR_01", "type", "object"]) == 0
    assert "tag CHAR_01 → OBJ_01 (the same edit" in capsys.readouterr().out
    assert tag(extra.id) == "OBJ_01"


def test_retag_waits_for_a_running_job(shots, capsys):
    from vidpipe.store.models import Run, RunStatus

    session, manifest, ids = shots
    run = Run.create(kind="process", manifest=manifest, status=RunStatus.RUNNING)
    assert main(["retag", str(session.project.root)]) == 2
    assert "a job is running on cast" in capsys.readouterr().err
    assert tag(ids["zed"]) == "CHAR_01"
    assert main(["retag", str(session.project.root), "--dry-run"]) == 0  # looking is fine
    Run.update(status=RunStatus.DONE).where(Run.id == run.id).execute()
    assert main(["retag", str(session.project.root)]) == 0
    assert tag(ids["zed"]) == "CHAR_03"
