"""Huge, identical, deep and IFD-chained inputs stay bounded: time bounds are ratios between
two sizes of the same input (linear work grows with it, quadratic work with its square), memory
is the peak RSS of a process against the same image in 8 bits. Real files, real processes."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vidpipe import imaging
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, AssetState
from vidpipe.store.session import open_project

REPO = Path(__file__).resolve().parents[2]
CLI = "import sys; from vidpipe.cli import main; sys.exit(main())"


def vidpipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )


def nested(root: Path, depth: int, image: Image.Image) -> None:
    """``root``/d/d/.../d (``depth`` levels) holding deep.png, made one level at a time
    (pathlib and shutil recurse once per level)."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    for _ in range(depth):
        os.mkdir("d", dir_fd=fds[-1])
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    fd = os.open("deep.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fds[-1])
    os.write(fd, buffer.getvalue())
    os.close(fd)
    for fd in fds:
        os.close(fd)


def remove_nested(root: Path, depth: int) -> None:
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    for _ in range(depth):
        fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    os.unlink("deep.png", dir_fd=fds[-1])
    for parent, child in reversed(list(zip(fds, fds[1:]))):
        os.close(child)
        os.rmdir("d", dir_fd=parent)
    os.close(fds[0])


def test_a_folder_1100_levels_deep_is_reported_not_a_crash(tmp_path):
    root = tmp_path / "project"
    assert vidpipe("init", str(root)).returncode == 0
    Image.new("RGB", (32, 32), (10, 200, 10)).save(root / "top.png")
    (root / "shallow").mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(root / "shallow" / "shallow.png")
    nested(root / "shallow", 1100, Image.new("RGB", (32, 32), (10, 10, 200)))
    try:
        result = vidpipe("scan", str(root))
    finally:
        remove_nested(root / "shallow", 1100)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "more than 64 folders deep" in result.stdout + result.stderr
    with open_project(root) as session:
        names = {a.name: a.state for a in Asset.select()}
        assert session is not None
    assert names == {"top": AssetState.PENDING, "shallow": AssetState.PENDING}


def _scan_identical(root: Path, count: int, folders: int) -> float:
    session = open_project(root, create=True)
    try:
        Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "original.png")
        data = (root / "original.png").read_bytes()
        (root / "original.png").unlink()
        for index in range(count):
            folder = root / f"m{index % folders:03d}"
            folder.mkdir(exist_ok=True)
            (folder / f"copy{index:05d}.png").write_bytes(data)
        started = time.perf_counter()
        summary = reconcile(session.project, session.settings)
        elapsed = time.perf_counter() - started
        assert len(summary.results) == count
        return elapsed
    finally:
        session.close()


def test_thousands_of_identical_files_take_time_in_proportion(tmp_path):
    # The smaller scan, short, is the one a busy machine's noise moves most: the best of two.
    small = min(_scan_identical(tmp_path / f"small{n}", 500, 30) for n in range(2))
    large = _scan_identical(tmp_path / "large", 2000, 30)
    # Four times the files: about four times the time when the duplicate check is linear,
    # sixteen and more when each file looks at every earlier copy (before: 500 files in
    # 500 folders took 32 s, 1 000 took 165 s).
    assert large / small < 10, (small, large)


def chained_tiff(path: Path, ifds: int) -> Path:
    """A valid 1x1 greyscale TIFF whose IFDs (all alike) chain ``ifds`` long."""
    entries = [
        (256, 3, 1),
        (257, 3, 1),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8),
        (278, 3, 1),
        (279, 4, 1),
    ]
    body = bytearray(b"II*\x00" + struct.pack("<I", 10) + b"\x80\x00")
    for index in range(ifds):
        offset = len(body)
        following = offset + 2 + 12 * len(entries) + 4 if index < ifds - 1 else 0
        body += struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            body += struct.pack("<HHI", tag, kind, 1) + (
                struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
            )
        body += struct.pack("<I", following)
    path.write_bytes(bytes(body))
    return path


def _probe_time(path: Path) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        info = imaging.probe(path, 10**8, within=None)
        best = min(best, time.perf_counter() - started)
    assert (info.width, info.height, info.format) == (1, 1, "TIFF")
    assert info.frames == imaging.FRAME_COUNT_CAP
    return best


def test_a_tiff_of_20000_chained_ifds_is_probed_like_one_of_2000(tmp_path):
    short = _probe_time(chained_tiff(tmp_path / "short.tif", 2_000))
    long = _probe_time(chained_tiff(tmp_path / "long.tif", 20_000))
    # Counting every frame grows with the chain's square (10x the IFDs: 100x the time).
    assert long / short < 3, (short, long)


LOAD = r"""
import resource, sys
from pathlib import Path
from vidpipe import imaging
imaging.load_rgb(Path(sys.argv[1]), 150_000_000, max_side=768, within=None)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kb(path: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return int(out.stdout.split()[-1])


def test_a_16_bit_image_takes_about_the_memory_of_an_8_bit_one(tmp_path):
    side = 6000  # 36 megapixels, under the default limit; a few hundred KB compressed
    deep = tmp_path / "depth16.png"
    Image.fromarray(np.full((side, side), 40000, np.uint16)).save(deep)
    grey = tmp_path / "grey8.png"
    Image.new("L", (side, side), 155).save(grey)
    assert deep.stat().st_size < 2_000_000
    # float64 arrays at full size made it several times the 8-bit figure.
    assert _peak_kb(deep) / _peak_kb(grey) < 2.0


SHEET = r"""
import resource, sys
from pathlib import Path
from vidpipe.pipeline.contact_sheet import Layout, SheetEntry, render_pages
paths = [Path(p) for p in sys.argv[1:]]
entries = [SheetEntry(n, p.stem, "OBJECT", p) for n, p in enumerate(paths, start=1)]
for page in render_pages(entries, Layout(), "m", 150_000_000, images_within=None):
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _sheet_peak_kb(paths: list[Path]) -> int:
    out = subprocess.run(
        [sys.executable, "-c", SHEET, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return int(out.stdout.split()[-1])


def test_the_contact_sheet_decodes_one_large_image_at_a_time(tmp_path):
    side = 6000  # 36 megapixels each: over 100 MB decoded, a few hundred KB as PNG
    paths = []
    for index in range(4):
        path = tmp_path / f"large{index}.png"
        Image.new("RGB", (side, side), (40 * index, 90, 160)).save(path)
        paths.append(path)
    one = _sheet_peak_kb(paths[:1])
    four = _sheet_peak_kb(paths)
    # Its four decoding threads at once held four full-size images.
    assert four / one < 1.5, (one, four)
