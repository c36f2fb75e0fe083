"""Contact sheet benchmark: our renderer against a naive Pillow version of the same layout.

    .venv/bin/python bench/contact_sheet.py [--count 200] [--small 50] [--cache DIR]

Generates ``count`` 4000×3000 JPEGs (quality 90) once into a cache folder, then renders the
contact sheet pages of all of them with

* ours:  ``vidpipe.pipeline.contact_sheet.write_pages`` with the default Layout (JPEG DCT-scaled decoding
  via ``Image.draft``, a small thread pool, one page in memory at a time);
* naive: the same layout drawn the obvious way: ``Image.open(p).convert("RGB")`` then
  ``thumbnail()`` for each image, at full size, one after the other.

Each measurement runs in its own subprocess so that peak memory (``ru_maxrss``) of one does not
mix with the other. Ours is also measured on ``--small`` images to show that its memory does not
grow with the number of images.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

WIDTH, HEIGHT = 4000, 3000


# -- test images ------------------------------------------------------------------------------
def _make_one(path: str, seed: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    # Smooth colour fields plus fine noise: photo-like detail for the JPEG coder, cheap to make.
    low = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize(
        (WIDTH, HEIGHT), Image.Resampling.BICUBIC
    )
    pixels = np.asarray(low, dtype=np.int16)
    pixels = pixels + rng.integers(-12, 12, (HEIGHT, 1, 1), dtype=np.int16)  # row banding
    noise = rng.integers(-20, 20, (HEIGHT // 4, WIDTH // 4, 1), dtype=np.int16)
    pixels = pixels + np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    tmp = path + ".tmp"
    image.save(tmp, "JPEG", quality=90)
    os.replace(tmp, path)


def ensure_images(cache: Path, count: int) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"img{index:04d}.jpg" for index in range(count)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        started = time.perf_counter()
        print(f"generating {len(missing)} {WIDTH}×{HEIGHT} JPEGs in {cache} ...", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(_make_one, [str(p) for p in missing], [int(p.stem[3:]) for p in missing]))
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return paths


# -- the two renderers ------------------------------------------------------------------------
def render_ours(paths: list[Path], out_dir: Path) -> int:
    from vidpipe.pipeline.contact_sheet import Layout, SheetEntry, write_pages

    entries = [SheetEntry(i, p.stem, "OBJECT", p) for i, p in enumerate(paths, start=1)]
    return len(
        list(
            write_pages(
                entries, Layout(), "bench", out_dir, "ours", 150_000_000, images_within=None
            )
        )
    )


def render_naive(paths: list[Path], out_dir: Path) -> int:
    from PIL import Image, ImageDraw

    from vidpipe.pipeline.contact_sheet import (
        BACKGROUND,
        CELL_BACKGROUND,
        MARGIN,
        MUTED,
        TEXT,
        TITLE,
        TITLE_PX,
        Layout,
        font,
    )

    layout = Layout()
    cell_h = layout.thumb_px + layout.label_px
    pages = [paths[i : i + layout.per_page] for i in range(0, len(paths), layout.per_page)]
    for page_number, page in enumerate(pages, start=1):
        rows = -(-len(page) // layout.columns)
        sheet = Image.new(
            "RGB",
            (
                MARGIN + layout.columns * (layout.thumb_px + MARGIN),
                TITLE_PX + MARGIN + rows * (cell_h + MARGIN),
            ),
            BACKGROUND,
        )
        draw = ImageDraw.Draw(sheet)
        draw.text((MARGIN, 14), TITLE, font=font(32, bold=True), fill=TEXT)
        draw.text(
            (MARGIN, 54), f"bench · page {page_number}/{len(pages)}", font=font(14), fill=MUTED
        )
        for index, path in enumerate(page):
            thumb = Image.open(path).convert("RGB")  # full-size decode
            thumb.thumbnail((layout.thumb_px, layout.thumb_px))
            x = MARGIN + (index % layout.columns) * (layout.thumb_px + MARGIN)
            y = TITLE_PX + MARGIN + (index // layout.columns) * (cell_h + MARGIN)
            draw.rectangle(
                (x, y, x + layout.thumb_px - 1, y + layout.thumb_px - 1), fill=CELL_BACKGROUND
            )
            sheet.paste(
                thumb,
                (
                    x + (layout.thumb_px - thumb.width) // 2,
                    y + (layout.thumb_px - thumb.height) // 2,
                ),
            )
            number = (page_number - 1) * layout.per_page + index + 1
            draw.text(
                (x, y + layout.thumb_px + 8), f"[{number}] {path.stem}", font=font(14), fill=TEXT
            )
            draw.text((x, y + layout.thumb_px + 32), "OBJECT", font=font(12, bold=True), fill=MUTED)
        sheet.save(
            out_dir / f"naive-p{page_number:02d}.jpg", format="JPEG", quality=90, subsampling=0
        )  # the same page format as ours
    return len(pages)


def worker(kind: str, cache: Path, count: int) -> None:
    """Runs in a subprocess: render, then print one JSON line with time and peak memory."""
    paths = sorted(cache.glob("img*.jpg"))[:count]
    renderer = {"ours": render_ours, "naive": render_naive}[kind]
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        pages = renderer(paths, Path(out))
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "kind": kind,
                "count": len(paths),
                "pages": pages,
                "seconds": seconds,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_mib": usage.ru_maxrss / 1024,
            }
        )
    )  # ru_maxrss is KiB on Linux


def measure(kind: str, cache: Path, count: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--cache", str(cache), "--count", str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--small",
        type=int,
        default=50,
        help="a smaller count to check that memory does not grow with images",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "vidpipe-bench-4000x3000"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.cache, args.count)
        return 0

    ensure_images(args.cache, args.count)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
        f"Pillow {__import__('PIL').__version__}",
        flush=True,
    )
    # Interleaved repeats, best of each: on a shared machine other load hits both alike.
    runs: dict[str, list[dict]] = {"ours": [], "naive": []}
    for repeat in range(args.repeats):
        for kind in ("ours", "naive"):
            row = measure(kind, args.cache, args.count)
            runs[kind].append(row)
            print(f"  run {repeat + 1}: {kind:<6} {row['seconds']:7.2f} s", flush=True)
    ours = min(runs["ours"], key=lambda r: r["seconds"])
    naive = min(runs["naive"], key=lambda r: r["seconds"])
    ours_small = measure("ours", args.cache, args.small)
    for row in (ours, naive, ours_small):
        print(
            f"{row['kind']:<6} {row['count']:>4} images, {row['pages']:>2} pages: "
            f"{row['seconds']:7.2f} s wall, {row['cpu_seconds']:7.2f} s CPU, "
            f"peak RSS {row['peak_mib']:5.0f} MiB",
            flush=True,
        )
    ratio = naive["seconds"] / ours["seconds"]
    print(f"CPU work ratio: {naive['cpu_seconds'] / ours['cpu_seconds']:.1f}×")
    growth = ours["peak_mib"] - ours_small["peak_mib"]
    print(f"speed-up: {ratio:.1f}× (target ≥ 4×)")
    print(
        f"ours, peak memory {args.small} → {args.count} images: "
        f"{ours_small['peak_mib']:.0f} → {ours['peak_mib']:.0f} MiB ({growth:+.0f} MiB)"
    )
    return 0 if ratio >= 4 else 1


if __name__ == "__main__":
    sys.exit(main())
