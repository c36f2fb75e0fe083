"""Face benchmark: grouping speed, and the face stage against a bare DeepFace.represent loop.

    .venv/bin/python bench/faces.py [--faces 5000] [--copies 3]

* grouping: ``group_faces`` on ``--faces`` synthetic 128-d embeddings (500 identities with
  noise), best of 3;
* stage vs bare: the shipped photos (zidane, bus, gracehopper) plus ``--copies`` resized
  re-encoded copies of each, through the face stage (detect + embed + crops + rows + grouping)
  and through a bare ``DeepFace.represent`` loop on the same files with the same detector and
  model. The model is loaded and warmed up before either is timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _package_file(package: str, *parts: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent.joinpath(*parts)


def bench_grouping(count: int) -> None:
    import numpy as np

    from vidpipe.vision.grouping import group_faces

    rng = np.random.default_rng(0)
    ids = max(1, count // 10)
    embeddings = np.repeat(rng.normal(size=(ids, 128)), count // ids, axis=0)
    embeddings += rng.normal(scale=0.03, size=embeddings.shape)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        labels = group_faces(embeddings, 0.065)
        best = min(best, time.perf_counter() - start)
    print(
        f"grouping {len(embeddings)} embeddings: {best * 1000:.0f} ms (best of 3), "
        f"{len(set(labels))} groups for {ids} identities"
    )


def make_images(folder: Path, copies: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    sources = [
        _package_file("ultralytics", "assets", "zidane.jpg"),
        _package_file("ultralytics", "assets", "bus.jpg"),
        _package_file("textual_image", "gracehopper.jpg"),
    ]
    paths = []
    for source in sources:
        with Image.open(source) as image:
            image = image.convert("RGB")
            for copy in range(copies + 1):
                scale = 1.0 - 0.15 * copy
                out = image.resize((int(image.width * scale), int(image.height * scale)))
                path = folder / f"{source.stem}_{copy}.jpg"
                out.save(path, quality=90 - 10 * copy)
                paths.append(path)
    return paths


def bench_stage(copies: int) -> None:
    from PIL import Image

    from vidpipe.pipeline.engine import ManifestingEngine
    from vidpipe.pipeline.ingest import add_files
    from vidpipe.store.models import Asset, StageProgress
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.stages.faces import FaceStage
    from vidpipe.vision.faces import get_face_finder

    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        paths = make_images(temp / "images", copies)
        session = open_project(temp / "project", create=True)
        add_files(session.project, session.settings, paths)
        finder = get_face_finder(session.settings)
        start = time.perf_counter()
        finder.load()
        load_s = time.perf_counter() - start
        finder.find(Image.open(paths[0]).convert("RGB"))  # warm-up
        from deepface import DeepFace

        start = time.perf_counter()
        bare_faces = 0
        for path in paths:
            result = DeepFace.represent(
                str(path),
                model_name=session.settings.face_model,
                detector_backend=session.settings.face_detector,
                enforce_detection=False,
            )
            bare_faces += sum(1 for r in result if r["face_confidence"] > 0)
        bare_s = time.perf_counter() - start

        engine = ManifestingEngine(session.project, session.settings, stages=[FaceStage()])
        start = time.perf_counter()
        run = engine.process_manifest(Asset.select().first().manifest, "all")
        ours_s = time.perf_counter() - start
        row = StageProgress.get(StageProgress.run == run.id)
        session.close()
    n = len(paths)
    print(f"face model load (once per process): {load_s:.1f} s on {finder.device}")
    print(
        f"bare DeepFace.represent loop: {bare_s:6.2f} s ({bare_s / n * 1000:.0f} ms/image, "
        f"{bare_faces} faces)"
    )
    print(f"face stage (ours):            {ours_s:6.2f} s ({ours_s / n * 1000:.0f} ms/image)")
    print(f"ratio ours / bare: {ours_s / bare_s:.3f}")
    print(f"stage message: {row.message}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=5000)
    parser.add_argument("--copies", type=int, default=2)
    args = parser.parse_args()
    bench_grouping(args.faces)
    bench_stage(args.copies)


if __name__ == "__main__":
    main()
