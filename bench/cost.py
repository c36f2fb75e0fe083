"""Gemini tokens and dollars per 100 assets: the naive request, vidpipe's defaults, --batch.

    .venv/bin/python bench/cost.py [--assets 100]

Each scenario runs the real reverse-prompting stage (real google-genai SDK) over a fresh project
against the fake Gemini server, which bills by Google's documented rules (258 tokens an image
with both sides <= 384 px, else 258 per 768 x 768 tile; text about four characters a token; the
response schema counted with the prompt) and, when a request leaves thinking on, 800 thinking
tokens (an assumed figure: the rules fix none). Dollars: gemini-2.5-flash list prices
(vidpipe.prompting.usage), half for the Batch API. What is counted is what vidpipe recorded from
the responses' usage_metadata, checked against what the server billed.

The asset mix per 100 (an assumption, printed with the results): 40 uploaded photos of mixed
shapes (phone 4:3 both ways, 16:9, square, small), 30 person crops, 30 face crops of 10 people
(so 20 faces are duplicates of another).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # tests/ for support (the fake servers)

from PIL import Image, ImageDraw  # noqa: E402

from vidpipe.pipeline.engine import ManifestingEngine  # noqa: E402
from vidpipe.pipeline.ingest import content_hash, reconcile  # noqa: E402
from vidpipe.store.models import Asset, Manifest, Source  # noqa: E402
from vidpipe.prompting import ledger  # noqa: E402
from vidpipe.pipeline.runs import create_run  # noqa: E402
from vidpipe.store.session import open_project  # noqa: E402
from vidpipe.pipeline.stages.base import StageName  # noqa: E402
from vidpipe.pipeline.stages.prompts import PromptStage  # noqa: E402
from support.fake_gemini import FakeGemini  # noqa: E402

UPLOAD_SIZES = [(2016, 1512), (1512, 2016), (1920, 1080), (1600, 1600), (800, 600)]
PERSON_SIZES = [(420, 900), (300, 640), (700, 1300), (250, 500), (900, 1500)]
FACE_SIZES = [(160, 200), (260, 320), (400, 480), (520, 640), (120, 150)]
PEOPLE = 10


def _picture(size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle(
            [x, y, x + size[0] // 4, y + size[1] // 4],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    return image


def build_project(root: Path, assets: int) -> None:
    """A project of ``assets`` assets in the mix above, crops registered as the vision stages
    leave them (extracted assets with a crop file, faces grouped with duplicates)."""
    uploads = round(assets * 0.4)
    persons = round(assets * 0.3)
    faces = assets - uploads - persons
    session = open_project(root, create=True)
    try:
        for index in range(uploads):
            _picture(UPLOAD_SIZES[index % len(UPLOAD_SIZES)], index).save(
                root / f"photo_{index:03d}.jpg", quality=85
            )
        reconcile(session.project, session.settings)
        parents = list(Asset.select().order_by(Asset.file_path))
        crops = session.project.crops_dir
        crops.mkdir(parents=True, exist_ok=True)
        primaries: dict[int, int] = {}
        for index in range(persons + faces):
            is_face = index >= persons
            sizes = FACE_SIZES if is_face else PERSON_SIZES
            size = sizes[index % len(sizes)]
            path = crops / f"crop_{index:03d}.jpg"
            _picture(size, 10_000 + index).save(path, quality=85)
            parent = parents[index % len(parents)]
            person = index % PEOPLE
            asset = Asset.create(
                manifest=parent.manifest,
                name=f"{parent.name} {'face' if is_face else 'person'}",
                source=Source.EXTRACTED,
                source_asset=parent,
                asset_type="CHARACTER",
                extraction_key=f"{'face' if is_face else 'det:person'}:{index}",
                file_path=session.project.relative(path),
                content_hash=content_hash(path),
                file_size=path.stat().st_size,
                width=size[0],
                height=size[1],
                detection_class="face" if is_face else "person",
                detection_confidence=0.9,
                is_face_crop=is_face,
                crop_bbox=[0, 0, size[0], size[1]],
                face_group=person if is_face else None,
                duplicate_of=primaries.get(person) if is_face else None,
            )
            if is_face:
                primaries.setdefault(person, asset.id)
    finally:
        session.close()


def run_scenario(template: Path, work: Path, name: str, batch: bool = False, **settings) -> dict:
    root = work / name
    _copy_tree(template, root)
    session = open_project(root)
    try:
        with FakeGemini() as server:
            config = session.settings.replace(
                gemini_api_key="bench-key",
                gemini_base_url=server.base_url,
                gemini_batch_poll_s=0.05,
                **settings,
            )
            manifest = Manifest.get()
            run = create_run(
                "process",
                manifest_id=manifest.id,
                mode="all",
                stages=[StageName.PROMPTS],
                args={"batch": batch},
            )
            engine = ManifestingEngine(
                session.project, config, stages=[PromptStage()], progress_interval=1.0
            )
            finished = engine.process_manifest(manifest, "all", run=run)
            assert finished.status == "done", (name, finished.status, finished.error)
            usage = ledger.totals(run_id=run.id)
            billed = dict(server.billed)
            image_tokens = [
                detail["tokenCount"]
                for seen in server.seen
                if seen.usage
                for detail in seen.usage["promptTokensDetails"]
                if detail["modality"] == "IMAGE"
            ]
        assets = Asset.select().count()
    finally:
        session.close()
    # What vidpipe recorded must be what the server billed.
    assert usage["input_tokens"] == billed.get("prompt", 0), (usage, billed)
    assert usage["output_tokens"] == billed.get("candidates", 0), (usage, billed)
    assert usage["thinking_tokens"] == billed.get("thoughts", 0), (usage, billed)
    scale = 100 / assets
    tokens = usage["input_tokens"] + usage["output_tokens"] + usage["thinking_tokens"]
    return {
        "name": name,
        "assets": assets,
        "requests": usage["requests"],
        "input": usage["input_tokens"] * scale,
        "output": usage["output_tokens"] * scale,
        "thinking": usage["thinking_tokens"] * scale,
        "tokens": tokens * scale,
        "usd": usage["cost_usd"] * scale,
        "image_tokens_per_request": sum(image_tokens) / max(len(image_tokens), 1),
    }


def _copy_tree(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidpipe-cost-") as tmp:
        work = Path(tmp)
        build_project(work / "template", args.assets)
        print(
            f"{args.assets} assets: {round(args.assets * 0.4)} uploaded photos "
            f"{UPLOAD_SIZES}, {round(args.assets * 0.3)} person crops, "
            f"{args.assets - round(args.assets * 0.4) - round(args.assets * 0.3)} face crops "
            f"of {PEOPLE} people\n"
        )

        print("Image size sent (thinking off, every face asked): image tokens per request")
        sizes = {}
        for px in (384, 768, 1024):
            result = run_scenario(
                work / "template",
                work,
                f"size-{px}",
                prompt_image_max_px=px,
                prompt_duplicate_faces="request",
            )
            sizes[px] = result
            print(
                f"  {px:>5} px: {result['image_tokens_per_request']:6.1f} image tokens, "
                f"{result['tokens']:8.0f} tokens and ${result['usd']:.4f} per 100 assets"
            )

        naive = run_scenario(
            work / "template",
            work,
            "naive",
            prompt_image_max_px=1024,
            gemini_thinking_budget=-1,
            prompt_duplicate_faces="request",
        )
        default = run_scenario(work / "template", work, "default")
        batch = run_scenario(work / "template", work, "batch", batch=True)

    print(
        f"\n{'per 100 assets':<40}{'requests':>9}{'input':>9}{'output':>9}{'thinking':>9}"
        f"{'tokens':>9}{'USD':>9}"
    )
    for label, row in (
        ("naive (1024 px, thinking, every face)", naive),
        ("vidpipe default", default),
        ("vidpipe default --batch", batch),
    ):
        print(
            f"{label:<40}{row['requests'] * 100 / row['assets']:9.0f}"
            f"{row['input']:9.0f}{row['output']:9.0f}{row['thinking']:9.0f}"
            f"{row['tokens']:9.0f}{row['usd']:9.4f}"
        )
    token_ratio = naive["tokens"] / default["tokens"]
    cost_ratio = naive["usd"] / default["usd"]
    batch_ratio = naive["usd"] / batch["usd"]
    print(f"\nnaive / default tokens: {token_ratio:.2f}x (target >= 2)")
    print(f"naive / default cost:   {cost_ratio:.2f}x")
    print(f"naive / batch cost:     {batch_ratio:.2f}x (target >= 4)")
    # The thinking figure is an assumption: the same ratios with no thinking at all.
    bare = sizes[1024]
    print(
        f"without any thinking (naive = 1024 px, every face): tokens "
        f"{bare['tokens'] / default['tokens']:.2f}x, cost {bare['usd'] / default['usd']:.2f}x "
        f"default, {bare['usd'] / batch['usd']:.2f}x batch"
    )
    return 0 if token_ratio >= 2 and batch_ratio >= 4 else 1


if __name__ == "__main__":
    sys.exit(main())
