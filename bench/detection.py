"""Detection benchmark: the detection stage against a bare ultralytics predict loop.

    .venv/bin/python bench/detection.py [--count 50] [--weights yolov8n.yaml] [--device cpu]

Generates ``count`` 1280×720 JPEGs into a temporary project, then, in one process and with the
same weights, device and batch size:

* bare:  ``YOLO(weights).predict(paths[i:i+batch])`` over the files;
* ours:  the detection stage through the engine (image loading with EXIF orientation, box
  filtering, crop files, database rows, progress rows);
* again: a second job in the same process (the model stays loaded: no load time).

Both models are warmed up on two images first, so neither side pays the first-call cost in the
timed part. With ``yolov8n.yaml`` (random weights, offline) few or no boxes are kept, so crops cost
little; with real weights the crop writing is part of "ours".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_images(folder: Path, count: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        rng = np.random.default_rng(index)
        low = Image.fromarray(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8)).resize(
            (1280, 720), Image.Resampling.BICUBIC
        )
        path = folder / f"frame{index:03d}.jpg"
        low.save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--weights", default=os.environ.get("VIDPIPE_YOLO_WEIGHTS", "yolov8n.yaml"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    from vidpipe.pipeline.engine import ManifestingEngine
    from vidpipe.pipeline.ingest import add_files
    from vidpipe.store.models import Asset, StageProgress
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.stages.detection import DetectionStage
    from vidpipe.vision.detector import get_detector, resolve_device
    from vidpipe.vision.weights import prepare_ultralytics_env, require_yolo_weights

    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        paths = make_images(temp / "images", args.count)
        session = open_project(temp / "project", create=True)
        settings = session.settings.replace(
            yolo_weights=args.weights, device=args.device, detection_batch_size=args.batch
        )
        add_files(session.project, settings, paths)
        project_paths = [session.project.root / p.name for p in paths]
        device = resolve_device(settings.device)
        weights = require_yolo_weights(settings)
        prepare_ultralytics_env(settings)

        from ultralytics import YOLO

        load_start = time.perf_counter()
        bare = YOLO(weights.source, task="detect")
        bare.to(device)
        load_s = time.perf_counter() - load_start
        half = device.startswith("cuda")
        kwargs = dict(conf=settings.detection_confidence, device=device, half=half, verbose=False)
        bare.predict([str(p) for p in project_paths[:2]], **kwargs)  # warm-up
        ours = get_detector(settings)
        ours.load()
        from PIL import Image

        ours.detect([Image.open(p).convert("RGB") for p in project_paths[:2]])  # warm-up

        start = time.perf_counter()
        for i in range(0, len(project_paths), args.batch):
            bare.predict([str(p) for p in project_paths[i : i + args.batch]], **kwargs)
        bare_s = time.perf_counter() - start

        engine = ManifestingEngine(session.project, settings, stages=[DetectionStage()])
        manifest = Asset.select().first().manifest
        start = time.perf_counter()
        run = engine.process_manifest(manifest, "all")
        ours_s = time.perf_counter() - start
        row = StageProgress.get(StageProgress.run == run.id)

        start = time.perf_counter()
        engine2 = ManifestingEngine(session.project, settings, stages=[DetectionStage()])
        engine2.process_manifest(manifest, "all")
        again_s = time.perf_counter() - start
        session.close()

    n = len(paths)
    print(f"device {device}, weights {args.weights}, {n} images 1280×720, batch {args.batch}")
    print(f"model load (once per process)   {load_s:6.2f} s")
    print(f"bare ultralytics predict loop   {bare_s:6.2f} s  ({bare_s / n * 1000:5.0f} ms/image)")
    print(f"detection stage (ours)          {ours_s:6.2f} s  ({ours_s / n * 1000:5.0f} ms/image)")
    print(f"second job, same process        {again_s:6.2f} s  (no model load)")
    print(
        f"ratio ours / bare               {ours_s / bare_s:6.3f}  (overhead {100 * (ours_s / bare_s - 1):+.1f} %)"
    )
    print(f"stage message: {row.message}")


if __name__ == "__main__":
    main()
