"""`make demo`: build a demo project from real photos that installed packages ship, run the
whole pipeline on it, export the manifest, then show the result.

On a terminal the result is shown in the TUI with the daemon running; without one (CI, a pipe)
a table of tags and prompts is printed with the path of the export.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from vidpipe.cli import main as cli_main
from vidpipe.review.export import build_export
from vidpipe.store.session import open_project

DEFAULT_DIR = Path("demo-project")


def _shipped(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent.joinpath(*parts)
    return path if path.is_file() else None


def _draw_prop(path: Path) -> None:
    """A simple generated prop (a red mug on a table) so the demo has an OBJECT manifest."""
    image = Image.new("RGB", (640, 480), (225, 220, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 360, 640, 480), fill=(120, 80, 50))
    draw.rounded_rectangle((250, 200, 390, 370), radius=18, fill=(190, 30, 40))
    draw.arc((370, 240, 450, 320), 270, 90, fill=(190, 30, 40), width=14)
    image.save(path, quality=92)


def _draw_location(path: Path) -> None:
    """A generated landscape (sky, sun, hills) for the ENVIRONMENT manifest."""
    image = Image.new("RGB", (800, 450))
    draw = ImageDraw.Draw(image)
    for y in range(450):
        draw.line((0, y, 800, y), fill=(70 + y // 6, 130 + y // 8, 220 - y // 5))
    draw.ellipse((600, 50, 690, 140), fill=(250, 220, 120))
    draw.polygon(
        [(0, 450), (0, 300), (250, 220), (520, 330), (800, 260), (800, 450)], fill=(60, 120, 60)
    )
    image.save(path, quality=92)


def build_demo_project(root: Path) -> Path:
    """Create (or refresh) the demo project folder; idempotent."""
    from vidpipe.store.project import init_project

    init_project(root)
    layout = {
        "characters": [
            ("ultralytics", "assets", "zidane.jpg"),
            ("textual_image", "gracehopper.jpg"),
        ],
        "scenes": [("ultralytics", "assets", "bus.jpg")],
    }
    for folder, sources in layout.items():
        (root / folder).mkdir(exist_ok=True)
        for package, *parts in sources:
            source = _shipped(package, *parts)
            if source is None:
                print(f"demo: {package} does not ship {'/'.join(parts)}; skipped", file=sys.stderr)
                continue
            target = root / folder / source.name
            if not target.exists():
                shutil.copy2(source, target)
    (root / "props").mkdir(exist_ok=True)
    if not (root / "props" / "red_mug.jpg").exists():
        _draw_prop(root / "props" / "red_mug.jpg")
    (root / "locations").mkdir(exist_ok=True)
    if not (root / "locations" / "green_hills.jpg").exists():
        _draw_location(root / "locations" / "green_hills.jpg")
    return root


def print_table(root: Path) -> None:
    with open_project(root) as session:
        data = build_export(session.project)
    print()
    print(f"{'TAG':<9} {'TYPE':<12} {'SOURCE':<10} {'NAME':<24} PROMPT")
    for manifest in data["manifests"]:
        print(f"── {manifest['name']} " + "─" * 60)
        for asset in manifest["assets"]:
            prompt = (asset["reverse_prompt"] or asset["error"] or "").replace("\n", " ")
            print(
                f"{asset['tag'] or '-':<9} {asset['type']:<12} {asset['source']:<10} "
                f"{asset['name'][:24]:<24} {prompt[:70]}"
            )
    print("── characters (one person across every manifest) " + "─" * 26)
    for character in data.get("characters", []):
        roles = ", ".join(f"{i['manifest']}/{i['tag']} {i['role']}" for i in character["images"])
        print(f"{character['handle']:<11} {roles[:100]}")


def _script(name: str) -> str | None:
    """A console script of this environment: beside the running interpreter (make demo runs
    .venv/bin/python without activating the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def _as_typed(name: str) -> str:
    """How to type a console script here: its bare name when PATH finds this environment's,
    else its path (.venv/bin/vidpipe: make demo runs without the venv activated)."""
    script = _script(name)
    if script is None or shutil.which(name) == script:
        return name
    try:
        return str(Path(script).relative_to(Path.cwd()))
    except ValueError:
        return script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidpipe.demo")
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--no-tui", action="store_true", help="print the table even on a terminal")
    args = parser.parse_args(argv)

    root = build_demo_project(args.folder.resolve())
    print(f"demo project: {root}")
    code = cli_main(["process", str(root)])
    export_path = root / ".vidpipe" / "exports" / "manifest.json"
    cli_main(["export", str(root), "-o", str(export_path)])
    tui, daemon = _script("vidpipe-tui"), _script("vidpipe-daemon")
    if sys.stdin.isatty() and sys.stdout.isatty() and not args.no_tui and tui:
        if daemon:
            # Refuses politely (and harmlessly) when a daemon already runs for the project.
            subprocess.run([daemon, str(root), "--detach"], check=False)
        code = subprocess.call([tui, str(root)])
        print(
            f"the daemon keeps watching {root}; stop it with: "
            f"{_as_typed('vidpipe')} daemon stop {root}"
        )
        return code
    print_table(root)
    print(f"\nexport: {export_path}")
    vidpipe = _as_typed("vidpipe")
    print(
        f"next: {vidpipe} status {root}   ·   {vidpipe} characters {root}   ·   "
        f"{_as_typed('vidpipe-tui')} {root}"
    )
    print(
        f"reference sets for Veo, Runway or a LoRA: {vidpipe} export {root} --format veo "
        f"-o {root.parent / 'reference-sets'}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
