"""No file reaches a decoder or a program vidpipe does not list: an EPS named ``.jpg`` never runs
Ghostscript (a recording ``gs`` first on PATH), and broken files of every format Pillow knows,
under image suffixes, are each that file's error while the good images beside them are ingested.
The real ``vidpipe scan`` in its own process."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vidpipe.store.models import Asset, AssetState
from vidpipe.store.session import open_project

REPO = Path(__file__).resolve().parents[2]
SUFFIXES = [".jpg", ".png", ".tif", ".gif", ".webp", ".bmp"]

CLI = "import sys; from vidpipe.cli import main; sys.exit(main())"


def vidpipe(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )


def assets_by_name(root: Path) -> dict[str, Asset]:
    session = open_project(root)
    try:
        return {Path(a.file_path).name: a for a in Asset.select()}
    finally:
        session.close()


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    assert vidpipe("init", str(root)).returncode == 0
    Image.new("RGB", (80, 60), (30, 140, 60)).save(root / "good.png")
    Image.new("RGB", (80, 60), (200, 40, 60)).save(root / "good.jpg")
    return root


@pytest.fixture
def recording_gs(tmp_path) -> tuple[Path, Path]:
    """A folder holding a ``gs`` that notes each run, then runs the real Ghostscript."""
    real = shutil.which("gs")
    if real is None:
        pytest.skip(
            "Ghostscript is not installed (apt-get install ghostscript): without it, "
            "the attack cannot be reproduced here"
        )
    folder, record = tmp_path / "bin", tmp_path / "gs-ran.txt"
    folder.mkdir()
    script = folder / "gs"
    script.write_text(f'#!/bin/sh\necho "$@" >> {record}\nexec {real} "$@"\n')
    script.chmod(0o755)
    return folder, record


def test_an_eps_named_jpg_never_runs_ghostscript(project, recording_gs):
    folder, record = recording_gs
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 255, 0)).save(buffer, "EPS")
    (project / "hero.jpg").write_bytes(buffer.getvalue())
    path = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"

    result = vidpipe("scan", str(project), env={"PATH": path})

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert not record.exists(), f"Ghostscript ran: {record.read_text()}"
    assets = assets_by_name(project)
    assert assets["hero.jpg"].state == AssetState.ERROR
    assert "not an image vidpipe reads" in assets["hero.jpg"].error
    assert {assets["good.png"].state, assets["good.jpg"].state} == {AssetState.PENDING}


def _sample(fmt: str) -> bytes:
    """A small real image in ``fmt``, as Pillow writes it."""
    mode = {"XBM": "1", "SPIDER": "F", "IM": "RGB", "PALM": "P", "BLP": "P"}.get(fmt, "RGB")
    shade = sum(fmt.encode()) % 256  # distinct content per format (identical files are one asset)
    image = Image.new("RGB", (24, 18), (90, shade, 200)).convert(mode)
    buffer = io.BytesIO()
    extra = (
        {"save_all": True, "append_images": [image.copy()]} if fmt in ("GIF", "PNG", "TIFF") else {}
    )
    image.save(buffer, fmt, **extra)
    return buffer.getvalue()


def _fuzzed(data: bytes, rng: random.Random) -> bytes:
    """``data`` broken the way a fuzzer would: bytes flipped, cut short, a run duplicated."""
    out = bytearray(data)
    how = rng.randrange(3)
    if how == 0:
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif how == 1:
        del out[rng.randint(len(out) // 4, len(out) - 1) :]
    else:
        start = rng.randrange(len(out))
        out[start:start] = out[start : start + rng.randint(1, 64)] * rng.randint(1, 40)
    return bytes(out)


def _pillow_formats() -> list[str]:
    Image.init()
    usable = []
    for fmt in sorted(Image.SAVE):
        try:
            _sample(fmt)
        except (OSError, ValueError, KeyError, TypeError):  # needs a plugin or mode we lack
            continue
        usable.append(fmt)
    return usable


def test_broken_files_of_every_pillow_format_are_each_one_assets_error(project):
    rng = random.Random(18)
    formats = _pillow_formats()
    assert {"TIFF", "GIF", "JPEG2000", "DDS", "IM", "PPM", "SGI", "SPIDER", "XBM"} <= set(formats)
    names = []
    for fmt in formats:
        data = _sample(fmt)
        for index in range(6):
            name = f"{fmt.lower()}-{index}{SUFFIXES[index % len(SUFFIXES)]}"
            (project / name).write_bytes(_fuzzed(data, rng) if index else data)
            names.append(name)

    result = vidpipe("scan", str(project))

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assets = assets_by_name(project)
    missing = [n for n in names if n not in assets]
    assert not missing, f"never became assets: {missing}"
    for name in names:
        asset = assets[name]
        assert asset.state in (AssetState.PENDING, AssetState.ERROR), name
        if asset.state == AssetState.ERROR:
            assert asset.error and "Traceback" not in asset.error
    unlisted = [
        n
        for n in names
        if n.split("-")[0].upper() not in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
    ]
    assert all(assets[n].state == AssetState.ERROR for n in unlisted), [
        (n, assets[n].state) for n in unlisted if assets[n].state != AssetState.ERROR
    ]
    assert {assets["good.png"].state, assets["good.jpg"].state} == {AssetState.PENDING}
