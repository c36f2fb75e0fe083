"""Field edits: history, undo/redo, and AI output that never overwrites a person's edit."""

from __future__ import annotations

import pytest

from vidpipe.store.edits import (
    adopt_suggestion,
    apply_ai_value,
    edit_field,
    history,
    last_writer,
    redo,
    suggestions,
    undo,
    user_edited_fields,
)
from vidpipe.store.models import Asset, Author, FieldEdit, Manifest


@pytest.fixture
def asset(session) -> Asset:
    manifest = Manifest.create(name="m", folder="m")
    return Asset.create(manifest=manifest, name="hero", file_path="m/hero.png", content_hash="h")


def value(asset: Asset, field: str):
    return getattr(Asset.get_by_id(asset.id), field)


def test_edit_records_history_and_no_op_records_nothing(asset):
    first = edit_field(asset.id, "visual_description", "a man in a red coat")
    assert first.old_value == "" and first.new_value == "a man in a red coat"
    assert first.author == Author.USER
    assert edit_field(asset.id, "visual_description", "a man in a red coat") is None
    edit_field(asset.id, "sort_order", "3")
    edit_field(asset.id, "user_tags", "hero, main , ")
    edit_field(asset.id, "asset_type", "character")
    fresh = Asset.get_by_id(asset.id)
    assert fresh.sort_order == 3 and fresh.user_tags == ["hero", "main"]
    assert fresh.asset_type == "CHARACTER" and fresh.type_source == "user"
    assert [e.field for e in history(asset.id)] == [
        "visual_description",
        "sort_order",
        "user_tags",
        "asset_type",
    ]
    assert user_edited_fields(asset.id) == {
        "visual_description",
        "sort_order",
        "user_tags",
        "asset_type",
    }


def test_edit_rejects_fields_a_person_may_not_edit(asset):
    with pytest.raises(ValueError, match="not an editable field"):
        edit_field(asset.id, "content_hash", "x")
    with pytest.raises(ValueError):
        edit_field(asset.id, "asset_type", "dragon")
    assert FieldEdit.select().count() == 0


def test_undo_and_redo(asset):
    edit_field(asset.id, "reverse_prompt", "v1")
    edit_field(asset.id, "reverse_prompt", "v2")
    edit_field(asset.id, "name", "Hero")

    assert undo(asset.id).field == "name"
    assert value(asset, "name") == "hero"
    assert undo(asset.id, "reverse_prompt").new_value == "v2"
    assert value(asset, "reverse_prompt") == "v1"
    assert undo(asset.id, "reverse_prompt").new_value == "v1"
    assert value(asset, "reverse_prompt") == ""
    assert undo(asset.id, "reverse_prompt") is None  # nothing left to undo
    assert user_edited_fields(asset.id) == set()

    assert redo(asset.id, "reverse_prompt").new_value == "v1"
    assert redo(asset.id, "reverse_prompt").new_value == "v2"
    assert value(asset, "reverse_prompt") == "v2"
    assert redo(asset.id).field == "name"
    assert value(asset, "name") == "Hero"
    assert redo(asset.id) is None


def test_new_edit_after_undo_drops_the_redo_branch(asset):
    edit_field(asset.id, "description", "a")
    edit_field(asset.id, "description", "b")
    undo(asset.id, "description")
    edit_field(asset.id, "description", "c")
    assert redo(asset.id, "description") is None
    assert value(asset, "description") == "c"
    assert [e.new_value for e in history(asset.id, "description")] == ["a", "c"]


def test_ai_value_is_applied_when_no_person_wrote_the_field(asset):
    assert apply_ai_value(asset.id, "reverse_prompt", "AI prompt") is True
    assert value(asset, "reverse_prompt") == "AI prompt"
    assert last_writer(asset.id, "reverse_prompt") == Author.AI
    assert user_edited_fields(asset.id) == set()
    # The AI may replace its own output.
    assert apply_ai_value(asset.id, "reverse_prompt", "AI prompt v2") is True
    assert value(asset, "reverse_prompt") == "AI prompt v2"


def test_ai_value_after_a_person_edit_becomes_a_suggestion(asset):
    apply_ai_value(asset.id, "visual_description", "AI first")
    edit_field(asset.id, "visual_description", "person's text")

    assert apply_ai_value(asset.id, "visual_description", "AI second") is False
    assert value(asset, "visual_description") == "person's text"
    [suggestion] = suggestions(asset.id)
    assert (suggestion.field, suggestion.new_value, suggestion.applied) == (
        "visual_description",
        "AI second",
        False,
    )
    # The same suggestion arriving again (a rerun) is not piled up.
    apply_ai_value(asset.id, "visual_description", "AI second")
    assert len(suggestions(asset.id)) == 1
    # Undo ignores suggestions: it reverts the person's edit.
    assert undo(asset.id).new_value == "person's text"
    assert value(asset, "visual_description") == "AI first"
    redo(asset.id)

    adopted = adopt_suggestion(suggestion.id)
    assert adopted.author == Author.USER and adopted.new_value == "AI second"
    assert value(asset, "visual_description") == "AI second"
    assert suggestions(asset.id) == []
    # Adopting is a person's choice: the next AI value is again only a suggestion.
    assert apply_ai_value(asset.id, "visual_description", "AI third") is False
    # And undo brings the person's own words back.
    undo(asset.id, "visual_description")
    assert value(asset, "visual_description") == "person's text"


def test_overwrite_replaces_the_person_value_but_keeps_it_in_history(asset):
    edit_field(asset.id, "reverse_prompt", "person's prompt")
    assert apply_ai_value(asset.id, "reverse_prompt", "forced AI prompt", overwrite=True) is True
    assert value(asset, "reverse_prompt") == "forced AI prompt"
    last = history(asset.id, "reverse_prompt")[-1]
    assert (last.author, last.old_value, last.applied) == (Author.AI, "person's prompt", True)
    undo(asset.id, "reverse_prompt")
    assert value(asset, "reverse_prompt") == "person's prompt"
    assert "reverse_prompt" in user_edited_fields(asset.id)


def test_ai_asset_type_marks_detection_and_person_type_wins(asset):
    apply_ai_value(asset.id, "asset_type", "OBJECT")
    assert Asset.get_by_id(asset.id).type_source == "detection"
    edit_field(asset.id, "asset_type", "ENVIRONMENT")
    assert apply_ai_value(asset.id, "asset_type", "OBJECT") is False
    fresh = Asset.get_by_id(asset.id)
    assert (fresh.asset_type, fresh.type_source) == ("ENVIRONMENT", "user")


def test_history_survives_a_reopened_database(tmp_path):
    from vidpipe.store.session import open_project

    root = tmp_path / "p"
    with open_project(root, create=True):
        manifest = Manifest.create(name="m", folder="m")
        asset_id = Asset.create(
            manifest=manifest, name="x", file_path="m/x.png", content_hash="h"
        ).id
        edit_field(asset_id, "description", "kept on disk")
    with open_project(root):
        assert Asset.get_by_id(asset_id).description == "kept on disk"
        assert undo(asset_id).new_value == "kept on disk"
        assert Asset.get_by_id(asset_id).description == ""


def test_a_persons_edit_of_an_offline_prompt_drops_the_offline_label(asset):
    from vidpipe.store.edits import OFFLINE_LABEL

    apply_ai_value(asset.id, "reverse_prompt", OFFLINE_LABEL + "a man, red coat")
    assert value(asset, "reverse_prompt").startswith("[offline] ")
    edit_field(asset.id, "reverse_prompt", OFFLINE_LABEL + "a man, red coat, at dawn")
    assert value(asset, "reverse_prompt") == "a man, red coat, at dawn"  # now the person's
    # Adopting an offline suggestion as it is keeps its label: it is still the machine's text.
    apply_ai_value(asset.id, "visual_description", "x")
    edit_field(asset.id, "visual_description", "mine")
    apply_ai_value(asset.id, "visual_description", OFFLINE_LABEL + "a figure")
    adopt_suggestion(suggestions(asset.id)[0].id)
    assert value(asset, "visual_description") == OFFLINE_LABEL + "a figure"
