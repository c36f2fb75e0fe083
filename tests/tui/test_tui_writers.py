"""Drafts belong to their writer (issue 22): another person's unsaved text is never restored as
yours, a save over a change made after you opened the field is a conflict you are told about
(live, and at the save), and $EDITOR text left by a dropped session is offered back, then
cleaned. Real project databases through Textual's pilot; two people are two Writer identities
(the two-process version runs in tmux: test_tui_tmux_writers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tui_support import make_project, settle, wait_for

SIZE = (160, 45)


def type_text(text: str) -> list[str]:
    return ["space" if ch == " " else ch for ch in text]


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project", images=2)


def make_app(root: Path, user: str, **kwargs):
    from tui.app import VidpipeApp
    from tui.writer import Writer

    kwargs.setdefault("watch_folder", False)
    return VidpipeApp(root, keymap={}, writer=Writer(user, f"{user}-session"), **kwargs)


def hero():
    from vidpipe.store.models import Asset

    return Asset.get(Asset.name == "hero_00")


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def open_editor(pilot):
    app = pilot.app
    await wait_for(pilot, lambda: app.main_screen.table.row_count == 2, what="the grid")
    await pilot.press("e")
    return await wait_for(
        pilot,
        lambda: type(app.screen).__name__ == "AssetEditorScreen" and app.screen,
        what="the editor",
    )


def alice_typing(root: Path):
    """Alice, in a session that is still open, has typed into hero_00's prompt."""
    from vidpipe.store.project import find_project
    from tui.drafts import Draft, DraftStore
    from tui.writer import Writer

    store = DraftStore(find_project(root), Writer("alice", "alice-live"))
    store.open_session()
    store.save(Draft(hero().id, {"reverse_prompt": "alice's words"}, {"reverse_prompt": ""}))
    return store


async def test_another_persons_draft_is_named_never_restored_as_yours(project):
    alice = alice_typing(project)
    try:
        app = make_app(project, "bob")
        async with app.run_test(size=SIZE) as pilot:
            editor = await open_editor(pilot)
            assert editor.query_one("#reverse_prompt").text == ""
            title = str(editor.query_one("#title-reverse_prompt").content)
            assert "alice is editing this field (unsaved)" in title
            await wait_for(
                pilot,
                lambda: any(
                    "Reverse prompt of — hero_00: alice is editing this field (unsaved)" in m
                    for m in messages(app)
                ),
                what="the notice",
            )
            assert not any("Restored" in m for m in messages(app))
            await pilot.press(*type_text("bob's words"), "ctrl+s")
            await wait_for(pilot, lambda: hero().reverse_prompt == "bob's words", what="saved")
        # Bob's save removed Bob's draft only: Alice's is still hers.
        assert alice.load(hero().id).fields == {"reverse_prompt": "alice's words"}
        from vidpipe.store.edits import history

        assert [e.person for e in history(hero().id, "reverse_prompt")] == ["bob"]
    finally:
        alice.close_session()


async def test_the_same_person_gets_the_draft_of_a_session_that_ended(project):
    alice = alice_typing(project)
    alice.close_session()  # her SSH connection dropped: the session lock is gone
    app = make_app(project, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: any(
                "Your unsaved text from an earlier session: — hero_00" in m for m in messages(app)
            ),
            what="the start-up notice naming the asset",
        )
        editor = await open_editor(pilot)
        assert editor.query_one("#reverse_prompt").text == "alice's words"
        await wait_for(
            pilot,
            lambda: any("Restored your unsaved draft of — hero_00" in m for m in messages(app)),
            what="the restore notice",
        )


async def test_saving_over_a_change_made_meanwhile_is_a_conflict_then_a_choice(project):
    from vidpipe.store.edits import edit_field, history

    app = make_app(project, "alice", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot)
        await pilot.press(*type_text("alice's words"))
        edit_field(hero().id, "reverse_prompt", "bob's words", person="bob")  # another session
        await wait_for(
            pilot,
            lambda: any("bob saved Reverse prompt after you opened it" in m for m in messages(app)),
            what="the live notice",
        )
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: any(
                "Reverse prompt of — hero_00 changed after you opened it" in m and "by bob" in m
                for m in messages(app)
            ),
            what="the conflict notice",
        )
        assert hero().reverse_prompt == "bob's words"  # not replaced silently
        assert app.drafts.load(hero().id).fields == {"reverse_prompt": "alice's words"}

        # Alice looks again: her text is back, and saving now is her choice.
        await pilot.press("e")
        editor = await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "AssetEditorScreen" and app.screen,
            what="the editor again",
        )
        assert editor.query_one("#reverse_prompt").text == "alice's words"
        await wait_for(
            pilot,
            lambda: any("The stored value changed since" in m for m in messages(app)),
            what="the stale note",
        )
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: hero().reverse_prompt == "alice's words", what="saved")
        await settle(pilot)
        assert [(e.person, e.new_value) for e in history(hero().id, "reverse_prompt")] == [
            ("bob", "bob's words"),
            ("alice", "alice's words"),
        ]
        assert app.drafts.load(hero().id) is None


async def test_editor_text_left_by_a_dropped_session_is_offered_back_then_cleaned(project):
    from vidpipe.store.project import find_project
    from tui.drafts import DraftStore
    from tui.writer import Writer

    # Alice was in $EDITOR (F4) when her connection dropped: the text file and vim's swap file
    # stay behind, named after her ended session.
    dropped = DraftStore(find_project(project), Writer("alice", "alice-dropped"))
    dropped.open_session()
    path = dropped.editor_path(hero().id, "reverse_prompt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("written in vim before the drop\n")
    swap = path.with_name(f".{path.name}.swp")
    swap.write_bytes(b"b0VIM 9.0")
    dropped.close_session()

    app = make_app(project, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: any("earlier session: — hero_00" in m for m in messages(app)),
            what="the start-up notice",
        )
        editor = await open_editor(pilot)
        assert editor.query_one("#reverse_prompt").text == "written in vim before the drop\n"
        await wait_for(
            pilot,
            lambda: any(
                "Restored what you wrote in $EDITOR for Reverse prompt of — hero_00" in m
                and "swap file" in m
                for m in messages(app)
            ),
            what="the $EDITOR notice",
        )
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: hero().reverse_prompt == "written in vim before the drop\n", what="saved"
        )
        await settle(pilot)
    assert not path.exists() and not swap.exists()  # offered back, then cleaned


async def test_review_marks_say_who_and_when(project):
    app = make_app(project, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main_screen.table.row_count == 2, what="the grid")
        await pilot.press("m")
        await wait_for(pilot, lambda: hero().reviewed, what="the mark")
    assert hero().reviewed_by == "alice" and hero().reviewed_at is not None


async def test_a_draft_left_by_another_persons_ended_session_is_named_as_left(project):
    alice = alice_typing(project)
    alice.close_session()  # her connection dropped; the draft is hers, not Bob's
    app = make_app(project, "bob")
    async with app.run_test(size=SIZE) as pilot:
        editor = await open_editor(pilot)
        assert editor.query_one("#reverse_prompt").text == ""
        title = str(editor.query_one("#title-reverse_prompt").content)
        assert "alice left unsaved text in this field (their session ended)" in title
