"""Vision and reverse prompting overlapped: `vidpipe process` wall time against each part alone.

    .venv/bin/python bench/pipeline.py [--images 40] [--latency 1.5]

40 generated images with faces (the shipped photos zidane, bus and gracehopper, each resized,
cropped, mirrored and re-encoded into distinct files), a fake Gemini endpoint answering every
request after ``latency`` seconds (in a process of its own), default settings (5 requests in
flight). Each measurement is a fresh copy of the project and a process of its own, so each pays
the Python, TensorFlow and SDK imports as a user's run does:

  vision alone   contact sheet, detection, faces, tags (no prompts)
  prompts alone  prompts and tags, on a copy whose vision work is done
  vidpipe process, prompt_overlap off (the stages strictly one after another)
  vidpipe process, default (uploaded images prompted while the faces are found)

Target: process / max(vision alone, prompts alone) <= 1.15.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGE_SETS = {
    "vision": ["contact_sheet", "detection", "faces", "tags"],
    "prompts": ["prompts", "tags"],
}


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent.joinpath(*parts)


def make_images(folder: Path, count: int) -> None:
    from PIL import Image, ImageOps

    sources = [
        _package_file("ultralytics", "assets", "zidane.jpg"),
        _package_file("ultralytics", "assets", "bus.jpg"),
        _package_file("textual_image", "gracehopper.jpg"),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = Image.open(sources[index % len(sources)]).convert("RGB")
        variant = index // len(sources)
        scale = 0.7 + 0.05 * (variant % 7)
        image = image.resize((int(image.width * scale), int(image.height * scale)))
        trim = 4 * (variant % 5)
        image = image.crop((trim, trim, image.width - trim, image.height - trim))
        if variant % 2:
            image = ImageOps.mirror(image)
        image.save(folder / f"ref_{index:03d}.jpg", quality=80 + variant % 15)


def child(project: Path, stages: str) -> int:
    """Run one stage set over the project in this process (``--child``)."""
    from vidpipe.pipeline.engine import ManifestingEngine
    from vidpipe.store.models import Manifest
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.stages import default_stages

    wanted = STAGE_SETS[stages]
    with open_project(project) as session:
        engine = ManifestingEngine(
            session.project,
            session.settings,
            stages=[stage for stage in default_stages(session.settings) if stage.name in wanted],
        )
        for manifest in Manifest.select():
            run = engine.process_manifest(manifest)
            if run.status != "done":
                print(f"run {run.status}: {run.error}", file=sys.stderr)
                return 1
    return 0


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--latency", type=float, default=1.5)
    parser.add_argument("--child", nargs=2, metavar=("PROJECT", "STAGES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[0]), args.child[1])

    from bench.prompts import FakeServerProcess

    python = sys.executable
    vidpipe = str(Path(python).parent / "vidpipe")
    with (
        tempfile.TemporaryDirectory(prefix="vidpipe-pipeline-") as tmp,
        FakeServerProcess(latency=args.latency) as server,
    ):
        work = Path(tmp)
        template = work / "template"
        subprocess.run([vidpipe, "init", str(template)], check=True, capture_output=True)
        make_images(template, args.images)
        subprocess.run([vidpipe, "scan", str(template)], check=True, capture_output=True)
        env = {
            **os.environ,
            "GEMINI_API_KEY": "bench-key",
            "VIDPIPE_GEMINI_BASE_URL": server.base_url,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }

        def fresh(name: str) -> Path:
            target = work / name
            shutil.copytree(template, target)
            return target

        vision_project = fresh("vision")
        vision = timed([python, __file__, "--child", str(vision_project), "vision"], env)
        prompts_project = work / "prompts"
        shutil.copytree(vision_project, prompts_project)
        before = server.stats()["requests"]
        prompts = timed([python, __file__, "--child", str(prompts_project), "prompts"], env)
        requests = server.stats()["requests"] - before
        sequential = timed(
            [vidpipe, "process", str(fresh("sequential"))],
            {**env, "VIDPIPE_PROMPT_OVERLAP": "false"},
        )
        overlapped = timed([vidpipe, "process", str(fresh("overlapped"))], env)

    floor = max(vision, prompts)
    print(
        f"{args.images} images with faces, endpoint latency {args.latency:g} s, "
        f"{requests} prompt requests"
    )
    print(f"  vision alone                 {vision:7.1f} s")
    print(f"  prompts alone                {prompts:7.1f} s")
    print(f"  vidpipe process, sequential  {sequential:7.1f} s   ratio {sequential / floor:.2f}")
    print(
        f"  vidpipe process, overlapped  {overlapped:7.1f} s   ratio {overlapped / floor:.2f}"
        " (target <= 1.15)"
    )
    return 0 if overlapped / floor <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
