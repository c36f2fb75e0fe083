"""Odd and broken files: each ends as an asset (error state with a specific message, or a
correctly normalised image), never a crash, and the good files next to them are processed."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidpipe import imaging
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import IngestStatus, ingest_file, reconcile
from vidpipe.store.models import Asset, AssetState, Manifest, RunStatus
from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
from vidpipe.pipeline.stages.tags import TagStage

RED, BLUE = (220, 20, 20), (20, 20, 220)


def jpeg_bytes(size=(640, 480), color=RED) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A real 8×8 PNG whose IHDR claims ``width``×``height`` (CRC fixed), a few hundred bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def exif_rotated_jpeg(path: Path) -> Path:
    """Stored 400×200, left half red, right half blue, EXIF orientation 6 (display rotated 90° CW):
    upright it is 200×400 with red on top."""
    image = Image.new("RGB", (400, 200), BLUE)
    image.paste(RED, (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, "JPEG", quality=95, exif=exif)
    return path


def close(color, expected, tolerance=40) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(color, expected))


@pytest.fixture
def project_dir(session) -> Path:
    folder = session.project.root / "refs"
    folder.mkdir()
    return folder


def ingest_one(session, path: Path) -> Asset:
    result = ingest_file(session.project, session.settings, path)
    return Asset.get_by_id(result.asset.id)


def assert_error(asset: Asset, *fragments: str) -> None:
    assert asset.state == AssetState.ERROR
    for fragment in fragments:
        assert fragment in asset.error, f"{fragment!r} not in {asset.error!r}"
    assert asset.width is None and asset.height is None


def test_zero_bytes(session, project_dir):
    path = project_dir / "empty.jpg"
    path.write_bytes(b"")
    assert_error(ingest_one(session, path), "empty file")


def test_truncated_jpeg(session, project_dir):
    data = jpeg_bytes()
    path = project_dir / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert_error(ingest_one(session, path), "truncated JPEG")


def test_truncated_png(session, project_dir):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)).save(
        buffer, "PNG"
    )
    path = project_dir / "cut.png"
    path.write_bytes(buffer.getvalue()[:3000])
    assert_error(ingest_one(session, path), "PNG")


def test_text_named_jpg(session, project_dir):
    path = project_dir / "notes.jpg"
    path.write_text("shopping list: eggs, milk\n")
    assert_error(ingest_one(session, path), "not an image")


def test_decompression_bomb_names_size_and_limit(session, project_dir):
    path = project_dir / "bomb.png"
    path.write_bytes(bomb_png(40000, 40000))
    assert path.stat().st_size < 1000
    asset = ingest_one(session, path)
    assert_error(asset, "40000×40000", "1,600 megapixels", "150 megapixels", "max_image_pixels")


def test_configured_pixel_limit(session, project_dir):
    path = project_dir / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    settings = session.settings.replace(max_image_pixels=5_000)
    asset = Asset.get_by_id(ingest_file(session.project, settings, path).asset.id)
    assert_error(asset, "100×100", "0.005 megapixels", "max_image_pixels")


def test_cmyk_jpeg(session, project_dir):
    path = project_dir / "cmyk.jpg"
    Image.new("CMYK", (120, 80), (0, 255, 255, 0)).save(path, "JPEG", quality=95)  # red ink
    asset = ingest_one(session, path)
    assert asset.state == AssetState.PENDING and (asset.width, asset.height) == (120, 80)
    image = imaging.load_rgb(path, session.settings.max_image_pixels, max_side=64, within=None)
    assert image.mode == "RGB"
    assert close(image.getpixel((10, 10)), (255, 0, 0), tolerance=60)


def test_16_bit_png_is_scaled_not_clipped(session, project_dir):
    path = project_dir / "depth16.png"
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (64, 1))
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    asset = ingest_one(session, path)
    assert asset.state == AssetState.PENDING and (asset.width, asset.height) == (256, 64)
    image = imaging.load_rgb(path, session.settings.max_image_pixels, within=None)
    assert image.mode == "RGB"
    assert image.getpixel((0, 10))[0] < 10
    assert 100 < image.getpixel((128, 10))[0] < 160  # mid-grey, not white
    assert image.getpixel((255, 10))[0] > 245


def test_palette_png_with_transparency(session, project_dir):
    path = project_dir / "palette.png"
    image = Image.new("P", (60, 40), 1)
    image.putpalette([0, 0, 0] + list(BLUE) + [0] * 762)
    image.paste(0, (0, 0, 30, 40))  # left half: palette index 0, declared transparent
    image.save(path, transparency=0)
    asset = ingest_one(session, path)
    assert asset.state == AssetState.PENDING
    rgb = imaging.load_rgb(path, session.settings.max_image_pixels, within=None)
    assert rgb.mode == "RGB"
    assert rgb.getpixel((5, 5)) == (255, 255, 255)  # transparent → white, not black
    assert rgb.getpixel((50, 5)) == BLUE


def test_exif_rotated_jpeg(session, project_dir):
    path = exif_rotated_jpeg(project_dir / "rotated.jpg")
    asset = ingest_one(session, path)
    assert asset.state == AssetState.PENDING
    assert (asset.width, asset.height) == (200, 400)  # after orientation
    for max_side in (None, 100):  # full decode and reduced (draft) decode alike
        image = imaging.load_rgb(
            path, session.settings.max_image_pixels, max_side=max_side, within=None
        )
        assert image.height > image.width
        assert close(image.getpixel((image.width // 2, image.height // 8)), RED)
        assert close(image.getpixel((image.width // 2, image.height * 7 // 8)), BLUE)


def test_animated_gif_uses_first_frame(session, project_dir):
    path = project_dir / "anim.gif"
    frames = [Image.new("RGB", (50, 40), color) for color in (RED, BLUE, (20, 220, 20))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    info = imaging.probe(path, session.settings.max_image_pixels, within=None)
    assert info.frames == 3
    asset = ingest_one(session, path)
    assert asset.state == AssetState.PENDING and (asset.width, asset.height) == (50, 40)
    image = imaging.load_rgb(path, session.settings.max_image_pixels, within=None)
    assert image.mode == "RGB" and close(image.getpixel((25, 20)), RED, tolerance=10)


def test_non_ascii_file_name(session, project_dir):
    path = project_dir / "Zoë café 東京.png"
    Image.new("RGB", (64, 64), RED).save(path)
    asset = ingest_one(session, path)
    assert asset.state == AssetState.PENDING
    assert asset.file_path == "refs/Zoë café 東京.png"
    assert asset.name == "Zoë café 東京"
    assert session.project.absolute(asset.file_path).read_bytes() == path.read_bytes()


def test_symlink_outside_project_is_never_followed(session, project_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "private.png"
    Image.new("RGB", (64, 48), RED).save(target)
    link = project_dir / "link.png"
    link.symlink_to(target)
    os.symlink(outside, project_dir / "linked-folder")  # a folder link is not descended into
    Image.new("RGB", (10, 10)).save(outside / "inside-linked-folder.png")

    summary = reconcile(session.project, session.settings)

    assets = list(Asset.select())
    assert [a.file_path for a in assets] == ["refs/link.png"]
    asset = assets[0]
    assert_error(asset, "symlink points outside the project folder", "not followed")
    # The target's bytes were never read: the hash is a placeholder, not the target's content.
    assert asset.content_hash.startswith("unreadable:")
    assert summary.count(IngestStatus.ERROR) == 1
    # Scanning again neither crashes nor adds rows.
    reconcile(session.project, session.settings)
    assert Asset.select().count() == 1


def test_symlink_inside_project_is_used(session, project_dir):
    target = project_dir / "real.png"
    Image.new("RGB", (64, 48), RED).save(target)
    other = session.project.root / "other"
    other.mkdir()
    (other / "alias.png").symlink_to(target)
    reconcile(session.project, session.settings)
    alias = Asset.get(Asset.file_path == "other/alias.png")
    assert alias.state == AssetState.PENDING and (alias.width, alias.height) == (64, 48)
    assert alias.manifest.name == "other"  # where the link lies, not where it points


def test_good_files_next_to_bad_ones_are_processed(session, project_dir, tmp_path, bus_jpg):
    # A folder full of trouble, plus two good photos.
    (project_dir / "empty.jpg").write_bytes(b"")
    (project_dir / "cut.jpg").write_bytes(jpeg_bytes()[:500])
    (project_dir / "text.jpg").write_text("not an image")
    (project_dir / "bomb.png").write_bytes(bomb_png(40000, 40000))
    Image.new("CMYK", (90, 60), (0, 255, 255, 0)).save(project_dir / "cmyk.jpg")
    Image.fromarray(np.full((30, 40), 40000, np.uint16)).save(project_dir / "depth16.png")
    exif_rotated_jpeg(project_dir / "rotated.jpg")
    Image.new("RGB", (30, 30), BLUE).save(project_dir / "Zoë café 東京.png")
    (tmp_path / "secret.png").write_bytes(jpeg_bytes())
    (project_dir / "link.png").symlink_to(tmp_path / "secret.png")
    (project_dir / "bus.jpg").write_bytes(bus_jpg.read_bytes())
    (project_dir / "red.jpg").write_bytes(jpeg_bytes(color=RED))

    reconcile(session.project, session.settings)
    engine = ManifestingEngine(
        session.project, session.settings, stages=[ContactSheetStage(), TagStage()]
    )
    run = engine.process_manifest(Manifest.get(Manifest.name == "refs"))

    assert run.status == RunStatus.DONE
    states = {Path(a.file_path).name: a.state for a in Asset.select()}
    errors = {"empty.jpg", "cut.jpg", "text.jpg", "bomb.png", "link.png"}
    assert {name for name, state in states.items() if state == AssetState.ERROR} == errors
    assert {name for name, state in states.items() if state == AssetState.PROCESSED} == (
        set(states) - errors
    )
    good = Asset.select().where(Asset.state == AssetState.PROCESSED)
    assert all(a.manifest_tag for a in good)
    sheets = Manifest.get(Manifest.name == "refs").contact_sheets
    assert len(sheets) == 1 and (session.project.root / sheets[0]).is_file()
