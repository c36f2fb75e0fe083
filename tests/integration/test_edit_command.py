"""`vidpipe edit`: one field or a whole edited export, written as a person's edit with the TUI's
history (undo undoes it), refusing what it cannot apply; and the edit shows in a running TUI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.tui_support import make_project, text_of, wait_for
from vidpipe.cli import main
from vidpipe.store.edits import apply_ai_value, edit_field, history, undo, user_edited_fields
from vidpipe.store.models import Asset, Author, FieldEdit
from vidpipe.store.session import open_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project", images=3)


@pytest.fixture
def db(project):
    session = open_project(project)
    yield session
    session.close()


def asset(path: str) -> Asset:
    return Asset.get(Asset.file_path == path)


def vidpipe(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """The real command in its own process (its own database connection, as a user runs it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from vidpipe.cli import main; sys.exit(main())", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
    )


def edit_rows(asset_id: int) -> list[tuple]:
    return [
        (e.field, e.old_value, e.new_value, e.author, e.applied, e.undone)
        for e in history(asset_id)
    ]


# -- one field ------------------------------------------------------------------------------------
def test_the_command_edits_exactly_the_fields_the_tui_editor_shows():
    from tui.screens.editor import LONG_FIELDS, SHORT_FIELDS
    from vidpipe.review.bulk_edit import EDITABLE_KEYS
    from vidpipe.store.edits import PERSON_FIELDS

    assert set(SHORT_FIELDS + LONG_FIELDS) == set(PERSON_FIELDS) == set(EDITABLE_KEYS.values())


def test_every_editor_field_by_id_tag_and_path_records_what_the_tui_records(project, db, capsys):
    hero0, hero1 = asset("characters/hero_00.png"), asset("characters/hero_01.png")
    Asset.update(manifest_tag="CHAR_02").where(Asset.id == hero1.id).execute()
    # The type first, on the untagged hero0: a type change on a tagged asset also changes its tag
    # (test_tags), and "char_02" must keep naming hero1.
    values = [
        ("type", "object", "OBJECT"),
        ("name", "Ada", "Ada"),
        ("user_tags", "lead, red coat ", ["lead", "red coat"]),
        ("sort_order", "-4", -4),
        ("reverse_prompt", "a woman in a red coat", "a woman in a red coat"),
        ("visual_description", "red coat\nblack hair", "red coat\nblack hair"),
        ("description", "main character", "main character"),
    ]
    refs = [
        str(hero0.id),
        "char_02",
        "characters/hero_01.png",
        str(project / "characters" / "hero_01.png"),
    ]
    for index, (field, text, stored) in enumerate(values):
        ref = refs[index % len(refs)]
        target = hero0 if ref == str(hero0.id) else hero1
        assert main(["edit", str(project), ref, field, text]) == 0
        out = capsys.readouterr().out
        assert out.startswith("changed  ") and f"(id {target.id})" in out
        column = "asset_type" if field == "type" else field
        assert getattr(Asset.get_by_id(target.id), column) == stored
        # The TUI's save path writes the same field of another asset: the same history rows.
        edit_field(asset("characters/hero_02.png").id, column, text)

    def rows(asset_id):
        return [(f, new, author, applied) for f, _, new, author, applied, _ in edit_rows(asset_id)]

    by_cli = sorted(rows(hero0.id) + rows(hero1.id))
    assert by_cli == sorted(rows(asset("characters/hero_02.png").id))
    assert {row[2] for row in by_cli} == {Author.USER}
    assert Asset.get_by_id(hero0.id).type_source == "user"  # a person's type outranks detection


def test_same_value_again_records_nothing_and_undo_restores(project, db, capsys):
    hero = asset("characters/hero_00.png")
    assert main(["edit", str(project), str(hero.id), "reverse_prompt", "v1"]) == 0
    assert main(["edit", str(project), str(hero.id), "reverse_prompt", "v2"]) == 0
    assert main(["edit", str(project), str(hero.id), "reverse_prompt", "v2"]) == 0
    assert "unchanged" in capsys.readouterr().out.splitlines()[-1]
    assert [e[2] for e in edit_rows(hero.id)] == ["v1", "v2"]
    assert "reverse_prompt" in user_edited_fields(hero.id)
    assert undo(hero.id).new_value == "v2"  # what ctrl+z in the TUI calls
    assert Asset.get_by_id(hero.id).reverse_prompt == "v1"


def test_value_from_stdin(project, db):
    hero = asset("characters/hero_00.png")
    text = "a prompt with ünïcode\nand a second line\n"
    done = vidpipe(
        "edit", str(project), "characters/hero_00.png", "reverse_prompt", "-", stdin=text.encode()
    )
    assert done.returncode == 0, done.stderr
    assert Asset.get_by_id(hero.id).reverse_prompt == text[:-1]  # the shell's newline dropped
    bad = vidpipe("edit", str(project), str(hero.id), "description", "-", stdin=b"\xff\xfe x")
    assert bad.returncode == 2
    assert b"not UTF-8" in bad.stderr and b"Traceback" not in bad.stderr
    assert Asset.get_by_id(hero.id).description == ""


@pytest.mark.parametrize(
    "ref, field, value, message",
    [
        ("999", "name", "x", "no asset with id 999"),
        ("NOPE_01", "name", "x", "no asset 'NOPE_01'"),
        ("{id}", "content_hash", "x", "'content_hash' is not a field a person edits"),
        ("{id}", "manifest_tag", "X_01", "is not a field a person edits"),
        ("{id}", "sort_order", "3.5", "sort_order must be an integer"),
        ("{id}", "sort_order", "first", "sort_order must be an integer"),
        ("{id}", "type", "dragon", "unknown asset type 'dragon': one of CHARACTER"),
        ("{id}", "name", "  ", "name cannot be empty"),
        ("{id}", "name", "evil\x1b]2;owned\x07", "control characters"),
    ],
)
def test_refusals_are_clear_and_change_nothing(project, db, capsys, ref, field, value, message):
    hero = asset("characters/hero_00.png")
    before = Asset.get_by_id(hero.id).__data__
    assert main(["edit", str(project), ref.format(id=hero.id), field, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidpipe: error: ") and message in err, err
    assert "\x1b" not in err and "\x07" not in err  # the refused value is shown, not obeyed
    assert FieldEdit.select().count() == 0
    assert Asset.get_by_id(hero.id).__data__ == before


def test_usage_mistakes(project, capsys):
    assert main(["edit", str(project), "1", "name"]) == 2
    assert "usage: vidpipe edit PROJECT ASSET FIELD VALUE" in capsys.readouterr().err
    assert main(["edit", str(project), "1", "name", "x", "--from", "f.json"]) == 2
    assert "not both" in capsys.readouterr().err


# -- an edited export -----------------------------------------------------------------------------
def export(project: Path, tmp_path: Path) -> dict:
    path = tmp_path / "export.json"
    assert main(["export", str(project), "-o", str(path)]) == 0
    return json.loads(path.read_text(encoding="utf-8"))


def apply(project: Path, tmp_path: Path, data, *flags: str) -> int:
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return main(["edit", str(project), "--from", str(path), *flags])


def records(data: dict) -> dict[str, dict]:
    return {r["file"]: r for m in data["manifests"] for r in m["assets"]}


def test_bulk_applies_what_differs_reports_it_and_a_second_run_changes_nothing(
    project, db, tmp_path, capsys
):
    data = export(project, tmp_path)
    capsys.readouterr()
    by_file = records(data)
    first, second = by_file["characters/hero_00.png"], by_file["characters/hero_01.png"]
    first.update(
        name="Ada",
        type="object",
        user_tags=["lead"],
        sort_order=7,
        reverse_prompt="a woman in a red coat",
    )
    second["visual_description"] = "a tall man"
    second["tag"] = "CHAR_99"  # read-only: computed by vidpipe
    second["quality_score"] = 9.5

    assert apply(project, tmp_path, data) == 0
    out = capsys.readouterr().out
    hero0, hero1 = asset("characters/hero_00.png"), asset("characters/hero_01.png")
    assert (
        hero0.name,
        hero0.asset_type,
        hero0.user_tags,
        hero0.sort_order,
        hero0.reverse_prompt,
    ) == ("Ada", "OBJECT", ["lead"], 7, "a woman in a red coat")
    assert hero1.visual_description == "a tall man" and hero1.manifest_tag != "CHAR_99"
    assert "name 'hero_00' → 'Ada'" in out and "visual_description '' → 'a tall man'" in out
    assert "read-only keys differ" in out and "quality_score (1)" in out and "tag (1)" in out
    assert "6 field(s) changed on 2 asset(s)" in out
    assert {e.author for e in FieldEdit.select()} == {Author.USER}
    assert FieldEdit.select().count() == 6
    assert undo(hero1.id).field == "visual_description"  # the TUI's undo takes it back
    assert Asset.get_by_id(hero1.id).visual_description == ""

    edit_field(hero1.id, "visual_description", "a tall man")  # redo by hand for the re-run
    count = FieldEdit.select().count()
    assert apply(project, tmp_path, data) == 0  # the same file again: idempotent
    assert "0 field(s) changed on 0 asset(s)" in capsys.readouterr().out
    assert FieldEdit.select().count() == count


def test_bulk_matches_by_id_when_tags_and_files_changed(project, db, tmp_path, capsys):
    from vidpipe.pipeline.ingest import reconcile

    data = export(project, tmp_path)
    by_file = records(data)
    hero1 = asset("characters/hero_01.png")
    # After the export: the file is renamed (the asset follows it) and tags are renumbered.
    (project / "characters" / "hero_01.png").rename(project / "characters" / "renamed.png")
    reconcile(db.project, db.settings)
    Asset.update(manifest_tag="CHAR_07").where(Asset.id == hero1.id).execute()
    assert Asset.get_by_id(hero1.id).file_path == "characters/renamed.png"
    by_file["characters/hero_01.png"]["name"] = "Renamed hero"
    # Without an id (e.g. stripped by jq) the file still identifies the asset.
    del by_file["characters/hero_02.png"]["id"]
    by_file["characters/hero_02.png"]["name"] = "Third"
    capsys.readouterr()
    assert apply(project, tmp_path, data) == 0
    assert Asset.get_by_id(hero1.id).name == "Renamed hero"
    assert asset("characters/hero_02.png").name == "Third"


def test_bulk_reports_what_it_cannot_match_or_apply(project, db, tmp_path, capsys):
    data = export(project, tmp_path)
    by_file = records(data)
    hero0, hero2 = asset("characters/hero_00.png"), asset("characters/hero_02.png")
    assets = data["manifests"][0]["assets"]
    assets.append({"id": 4242, "file": "characters/gone.png", "name": "ghost"})
    assets.append({"name": "no identity"})
    assets.append("not a record")
    # An id that names another asset than the record's file: another database's export.
    by_file["characters/hero_01.png"]["id"] = hero2.id
    by_file["characters/hero_01.png"]["name"] = "wrong target"
    by_file["characters/hero_00.png"].update(sort_order="third", type="dragon", name="Ok")
    capsys.readouterr()
    assert apply(project, tmp_path, data) == 1
    out = capsys.readouterr().out
    assert "no asset with id 4242 or file 'characters/gone.png'" in out
    assert "neither an id nor a file" in out and "not an asset record" in out
    assert "the export seems to come from another project database" in out
    assert "invalid  " in out and "sort_order must be an integer" in out
    assert "unknown asset type 'dragon'" in out
    assert "1 field(s) changed on 1 asset(s)" in out and "4 unmatched record(s)" in out
    assert asset("characters/hero_00.png").name == "Ok"  # its valid field still applied
    assert hero2.name == asset("characters/hero_02.png").name  # nothing written to the wrong one
    assert Asset.get_by_id(hero0.id).sort_order == hero0.sort_order


def test_bulk_keeps_a_field_that_changed_after_the_export_unless_forced(
    project, db, tmp_path, capsys
):
    data = export(project, tmp_path)
    hero = asset("characters/hero_00.png")
    apply_ai_value(hero.id, "reverse_prompt", "newer AI prompt")  # a run finished meanwhile
    record = records(data)["characters/hero_00.png"]
    record["name"] = "Ada"  # edited in the file; its stale reverse_prompt ("") differs too
    capsys.readouterr()
    assert apply(project, tmp_path, data, "--dry-run") == 1
    out = capsys.readouterr().out
    assert "would change" in out and "reverse_prompt changed after the export" in out
    assert Asset.get_by_id(hero.id).name == "hero_00"  # a dry run writes nothing
    assert apply(project, tmp_path, data) == 1
    fresh = Asset.get_by_id(hero.id)
    assert fresh.name == "Ada" and fresh.reverse_prompt == "newer AI prompt"
    record["reverse_prompt"] = "mine"
    assert apply(project, tmp_path, data, "--force") == 0
    assert Asset.get_by_id(hero.id).reverse_prompt == "mine"
    assert undo(hero.id, "reverse_prompt").new_value == "mine"  # the AI text is in the history
    assert Asset.get_by_id(hero.id).reverse_prompt == "newer AI prompt"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b'{"assets": []}', "not a vidpipe export"),
        (b'{"manifests": [{"name": "x"}]}', 'manifests[0] has no "assets" list'),
    ],
)
def test_bulk_refuses_a_file_that_is_not_an_export(project, tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    assert main(["edit", str(project), "--from", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert main(["edit", str(project), "--from", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_an_untouched_name_with_control_characters_round_trips(project, db, tmp_path, capsys):
    hero = asset("characters/hero_00.png")
    Asset.update(name="hero\x1b]2;x\x07").where(Asset.id == hero.id).execute()  # from a file name
    data = export(project, tmp_path)
    capsys.readouterr()
    assert apply(project, tmp_path, data) == 0  # the name is not re-validated: nobody changed it
    assert "0 field(s) changed" in capsys.readouterr().out
    records(data)["characters/hero_00.png"]["name"] = "hero\x1b[2J"
    assert apply(project, tmp_path, data) == 1  # a new name with an escape sequence is refused
    assert "control characters" in capsys.readouterr().out


def test_a_bare_list_of_records_as_jq_leaves_it(project, db, tmp_path, capsys):
    data = export(project, tmp_path)
    assets = data["manifests"][0]["assets"]
    assets[0]["description"] = "from jq"
    assert apply(project, tmp_path, assets) == 0
    assert Asset.get_by_id(assets[0]["id"]).description == "from jq"


# -- live in a running TUI ------------------------------------------------------------------------
async def test_an_edit_from_the_command_line_shows_live_in_the_tui_and_undoes_there(project):
    from tui.app import VidpipeApp

    app = VidpipeApp(project, keymap={}, watch_folder=False)
    async with app.run_test(size=(180, 50)) as pilot:
        screen = app.main_screen
        await wait_for(pilot, lambda: screen.table.row_count == 3, what="3 rows")
        key = screen.table.current_key
        done = vidpipe("edit", str(project), key, "name", "Grace from the shell")
        assert done.returncode == 0, done.stderr
        await wait_for(
            pilot,
            lambda: "Grace from the shell" in " ".join(str(c) for c in screen.table.get_row(key)),
            what="the grid cell",
        )
        preview = screen.query_one("#preview-details")
        await wait_for(
            pilot, lambda: "Grace from the shell" in text_of(preview), what="the preview"
        )
        assert "name" in screen.rows[key].edited  # marked as a person's edit (✎)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: screen.rows[key].name == "hero_00", what="undo in the TUI")
