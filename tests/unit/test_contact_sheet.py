"""The contact sheet stage: layout, pagination, idempotence, stale pages, EXIF orientation."""

from __future__ import annotations

import colorsys
from pathlib import Path

from PIL import Image

from vidpipe.pipeline.contact_sheet import (
    BACKGROUND,
    MARGIN,
    TITLE_PX,
    Layout,
    SheetEntry,
    render_pages,
)
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Manifest, RunStatus, StageProgress
from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage

THUMB, LABEL, COLUMNS = 256, 60, 4
PAGE_WIDTH = MARGIN + COLUMNS * (THUMB + MARGIN)


def colour(index: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((index * 0.13) % 1.0, 0.9, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def make_assets(folder: Path, count: int, size=(400, 300)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"img{index:03d}.png"
        Image.new("RGB", size, colour(index)).save(path)
        paths.append(path)
    return paths


def run_sheet(session, mode="missing"):
    reconcile(session.project, session.settings)
    engine = ManifestingEngine(session.project, session.settings, stages=[ContactSheetStage()])
    run = engine.process_manifest(Manifest.get(Manifest.name == "refs"), mode)
    assert run.status == RunStatus.DONE, run.error
    row = StageProgress.get(StageProgress.run == run.id)
    pages = [
        session.project.absolute(p) for p in Manifest.get(Manifest.name == "refs").contact_sheets
    ]
    return pages, row


def cell_origin(index: int) -> tuple[int, int]:
    return (
        MARGIN + (index % COLUMNS) * (THUMB + MARGIN),
        TITLE_PX + MARGIN + (index // COLUMNS) * (THUMB + LABEL + MARGIN),
    )


def has_text(image: Image.Image, box) -> bool:
    """Light text pixels on the dark background inside ``box``."""
    region = image.crop(box).convert("L")
    return region.getextrema()[1] > 120  # TEXT and MUTED on BACKGROUND / CELL_BACKGROUND


def close(a, b, tolerance=6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def test_layout_four_columns_256px_cells_label_band_and_title(session):
    make_assets(session.project.root / "refs", 6)
    [page], row = run_sheet(session)
    sheet = Image.open(page)
    rows = 2
    assert sheet.size == (PAGE_WIDTH, TITLE_PX + MARGIN + rows * (THUMB + LABEL + MARGIN))
    assert has_text(sheet, (MARGIN, 10, PAGE_WIDTH // 2, 50))  # the title
    for index in range(6):
        x, y = cell_origin(index)
        # A 400×300 image fitted into the 256 px cell: 256×192, centred.
        assert close(sheet.getpixel((x + THUMB // 2, y + THUMB // 2)), colour(index))
        assert close(sheet.getpixel((x + 1, y + 32 + 2)), colour(index))
        assert not close(sheet.getpixel((x + 1, y + 31 - 2)), colour(index))
        # The label band under it holds "[N] name" and the TYPE.
        assert has_text(sheet, (x, y + THUMB + 4, x + THUMB, y + THUMB + 28))
        assert has_text(sheet, (x, y + THUMB + 30, x + THUMB, y + THUMB + LABEL))
    # Empty cells of the last row stay background.
    x, y = cell_origin(7)
    assert close(sheet.getpixel((x + THUMB // 2, y + THUMB // 2)), BACKGROUND, 3)  # JPEG: ±1
    assert row.message == "1 page(s), 6 asset(s)"


def test_long_names_are_cut_to_their_cell():
    """A long name is cut with an ellipsis instead of running into the next cell."""
    entries = [
        SheetEntry(n, "a very long name " * 5, "CHARACTER", Path("/nonexistent.png"))
        for n in (1, 2)
    ]
    [sheet] = list(render_pages(entries, Layout(), "m", 10_000_000, images_within=None))
    x, y = cell_origin(1)
    # The first label must end inside its own cell: the gap to the next cell stays empty.
    gap = sheet.crop((x - MARGIN + 2, y + THUMB + 4, x - 2, y + THUMB + 28)).convert("L")
    assert gap.getextrema()[1] < 100


def test_pagination_30_assets_6_rows_gives_2_pages(session):
    make_assets(session.project.root / "refs", 30, size=(64, 48))
    pages, row = run_sheet(session)
    stem = pages[0].name[: -len("-p01.jpg")]
    assert [p.name for p in pages] == [f"{stem}-p01.jpg", f"{stem}-p02.jpg"]
    first, second = (Image.open(p) for p in pages)
    assert first.height == TITLE_PX + MARGIN + 6 * (THUMB + LABEL + MARGIN)
    assert second.height == TITLE_PX + MARGIN + 2 * (THUMB + LABEL + MARGIN)  # 6 left: 2 rows
    assert (row.done, row.total) == (2, 2)
    # Asset 25 is the first cell of page 2.
    x, y = cell_origin(0)
    assert close(second.getpixel((x + THUMB // 2, y + THUMB // 2)), colour(24))


def test_second_missing_run_rewrites_nothing_and_all_rewrites(session):
    make_assets(session.project.root / "refs", 30, size=(64, 48))
    pages, _ = run_sheet(session)
    stamps = {p: p.stat().st_mtime_ns for p in pages}
    for page in pages:  # make any rewrite visible even on coarse clocks
        import os

        os.utime(page, ns=(1_000_000_000, 1_000_000_000))
    again, row = run_sheet(session)
    assert again == pages
    assert all(p.stat().st_mtime_ns == 1_000_000_000 for p in pages)
    assert row.message == "2 page(s) up to date"

    forced, row = run_sheet(session, mode="all")
    assert forced == pages and stamps
    assert all(p.stat().st_mtime_ns != 1_000_000_000 for p in pages)


def test_changes_redraw_and_stale_pages_are_removed(session):
    paths = make_assets(session.project.root / "refs", 30, size=(64, 48))
    pages, _ = run_sheet(session)
    assert len(pages) == 2
    for path in paths[10:]:
        path.unlink()
    shrunk, row = run_sheet(session)
    assert [p.name for p in shrunk] == [pages[0].name]
    assert not pages[1].exists()
    assert sorted(p.name for p in session.project.contact_sheets_dir.iterdir()) == [pages[0].name]
    assert Image.open(shrunk[0]).height == TITLE_PX + MARGIN + 3 * (THUMB + LABEL + MARGIN)

    # A changed image (same path, new pixels) redraws the sheet.
    Image.new("RGB", (64, 48), (255, 255, 255)).save(paths[0])
    import os

    os.utime(paths[0], (2_000_000, 2_000_000))
    redrawn, _ = run_sheet(session)
    x, y = cell_origin(0)
    assert close(Image.open(redrawn[0]).getpixel((x + THUMB // 2, y + THUMB // 2)), (255, 255, 255))


def test_exif_orientation_is_respected(session):
    folder = session.project.root / "refs"
    folder.mkdir()
    image = Image.new("RGB", (400, 200), (20, 20, 220))  # stored: red left, blue right
    image.paste((220, 20, 20), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise: red on top
    image.save(folder / "rotated.jpg", "JPEG", quality=95, exif=exif)

    [page], _ = run_sheet(session)
    sheet = Image.open(page)
    x, y = cell_origin(0)
    # Upright it is 200×400 → 128×256 in the cell, centred horizontally.
    assert close(sheet.getpixel((x + 10, y + THUMB // 2)), (40, 40, 46), 3)  # cell beside it
    top = sheet.getpixel((x + THUMB // 2, y + THUMB // 4))
    bottom = sheet.getpixel((x + THUMB // 2, y + 3 * THUMB // 4))
    assert close(top, (220, 20, 20), 40) and close(bottom, (20, 20, 220), 40)


def test_unreadable_image_gets_a_cell_message_not_a_crash():
    entries = [SheetEntry(1, "gone", "OBJECT", Path("/nonexistent/gone.png"))]
    [sheet] = list(render_pages(entries, Layout(), "m", 10_000_000, images_within=None))
    x, y = cell_origin(0)
    assert has_text(sheet, (x, y, x + THUMB, y + 40))
