"""The grid's filter language on plain rows."""

from __future__ import annotations

import pytest

from tui.query import QueryError, parse
from tui.rows import AssetRow, untracked_row


def row(**fields) -> AssetRow:
    base = dict(
        key="1",
        asset_id=1,
        tag="CHAR_01",
        name="Hero",
        asset_type="CHARACTER",
        source="uploaded",
        parent="",
        detection_class="",
        detection_confidence=None,
        face_group=None,
        duplicate_of="",
        quality=None,
        state="processed",
    )
    base.update(fields)
    return AssetRow(**base)


HERO = row()
CROP = row(
    key="2",
    asset_id=2,
    name="hero person",
    source="extracted",
    parent="Hero",
    detection_class="person",
    asset_type="CHARACTER",
    state="pending",
    edited=frozenset({"reverse_prompt"}),
    reviewed=True,
)
CAR = row(
    key="3",
    asset_id=3,
    name="Red car",
    asset_type="OBJECT",
    tag="OBJ_01",
    stage_errors={"prompts": "quota"},
    reverse_prompt="a red sports car",
    has_suggestion=True,
)
FACE = row(
    key="4", asset_id=4, name="face 1", face_group=7, duplicate_of="face 0", asset_type="CHARACTER"
)
NEW = untracked_row("props/chair_01.png")
ALL = [HERO, CROP, CAR, FACE, NEW]


def matches(text: str) -> list[str]:
    query = parse(text)
    return [r.key for r in ALL if query(r)]


@pytest.mark.parametrize(
    "text, keys",
    [
        ("", ["1", "2", "3", "4", "file:props/chair_01.png"]),
        ("type:char", ["1", "2", "4"]),
        ("TYPE:Obj", ["3", "file:props/chair_01.png"]),  # the folder name hints the type
        ("state:error", ["3"]),
        ("state:pending", ["2"]),
        ("state:untracked", ["file:props/chair_01.png"]),
        ("edited:no", ["1", "3", "4", "file:props/chair_01.png"]),
        ("edited:prompt", ["2"]),
        ("source:extracted", ["2"]),
        ("-source:extracted type:char", ["1", "4"]),
        ("reviewed:yes", ["2"]),
        ("class:pers", ["2"]),
        ("group:7", ["4"]),
        ("dup:yes", ["4"]),
        ("suggest:yes", ["3"]),
        ("red", ["3"]),
        ('"sports car"', ["3"]),
        ("hero type:char -edited:yes", ["1"]),
        ("chair", ["file:props/chair_01.png"]),
    ],
)
def test_filter(text, keys):
    assert matches(text) == keys


@pytest.mark.parametrize(
    "text, message",
    [
        ("colour:red", "unknown filter 'colour'"),
        ("reviewed:maybe", "expects yes or no"),
        ("group:x", "expects a number"),
        ('"open quote', "cannot read the filter"),
    ],
)
def test_bad_filters_say_what_is_wrong(text, message):
    with pytest.raises(QueryError, match=message):
        parse(text)
