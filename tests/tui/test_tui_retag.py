"""Retag in vidpipe-tui: the palette's "Retag manifest" shows old → new for every asset (the
same lines as `vidpipe retag --dry-run`), n leaves everything, y applies it through the same
core function, and ctrl+z on one asset undoes the whole retag. The detail pane shows the
asset id and manifest/TAG."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tui_support import (
    loaded,
    make_app,
    make_project,
    settle,
    text_of,
    wait_for,
)

SIZE = (180, 50)
BEFORE = {"hero_00": "CHAR_03", "hero_01": "CHAR_01", "hero_02": "CHAR_05"}


def type_text(text: str) -> list[str]:
    return ["space" if ch == " " else ch for ch in text]


def tags() -> dict[str, str]:
    from vidpipe.store.models import Asset

    return {a.name: a.manifest_tag for a in Asset.select()}


@pytest.fixture
def project(tmp_path) -> Path:
    """Three characters whose tags came in arrival order, one prompt naming two of them."""
    from vidpipe.store.models import Asset
    from vidpipe.store.session import open_project

    root = make_project(tmp_path / "project", images=3)
    session = open_project(root)
    try:
        for name, tag in BEFORE.items():
            Asset.update(manifest_tag=tag).where(Asset.name == name).execute()
        Asset.update(reverse_prompt="CHAR_03 shakes hands with CHAR_01").where(
            Asset.name == "hero_00"
        ).execute()
    finally:
        session.close()
    return root


async def open_retag(pilot) -> str:
    await pilot.press("ctrl+p")
    await wait_for(
        pilot,
        lambda: type(pilot.app.screen).__name__ == "CommandPalette",
        what="the command palette",
    )
    await pilot.press(*type_text("retag manifest"))
    await settle(pilot)
    await pilot.press("enter")
    await wait_for(
        pilot,
        lambda: type(pilot.app.screen).__name__ == "RetagPreviewScreen",
        what="the retag preview",
    )
    return " ".join(text_of(w) for w in pilot.app.screen.query("Static"))


async def test_palette_retag_previews_applies_and_undoes_whole(project):
    from vidpipe.review.retag import plan_retags, preview_lines
    from vidpipe.store.models import Asset, Manifest

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        hero0 = Asset.get(Asset.name == "hero_00")
        details = await wait_for(
            pilot, lambda: text_of(screen.query_one("#preview-details")), what="the details"
        )
        assert f"id {hero0.id} · characters/CHAR_03" in details

        shown = await open_retag(pilot)
        expected = preview_lines(plan_retags([Manifest.get(Manifest.name == "characters")]))
        for line in expected:  # the CLI's preview, line for line
            assert " ".join(line.split()) in " ".join(shown.split())
        await pilot.press("n")
        await settle(pilot)
        assert tags() == BEFORE

        await open_retag(pilot)
        await pilot.press("y")
        after = {"hero_00": "CHAR_01", "hero_01": "CHAR_02", "hero_02": "CHAR_03"}
        await wait_for(pilot, lambda: tags() == after, what="the retag applied")
        assert Asset.get_by_id(hero0.id).reverse_prompt == "CHAR_01 shakes hands with CHAR_02"
        await wait_for(
            pilot,
            lambda: "characters/CHAR_01" in text_of(screen.query_one("#preview-details")),
            what="the new tag in the details",
        )

        screen.table.focus()
        await pilot.press("ctrl+z")  # on hero_00: the whole retag goes back
        await wait_for(pilot, lambda: tags() == BEFORE, what="the retag undone")
        assert Asset.get_by_id(hero0.id).reverse_prompt == "CHAR_03 shakes hands with CHAR_01"
