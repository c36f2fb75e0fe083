"""A stored path never leads outside the project at the moment a stage opens it: a row planted
in a copied database behind a folder link, and a file swapped for a link after the scan, are
refused by every stage that reads images (contact sheet, prompts to Gemini), on the open file
itself. Real files, the real SDK against the fake Gemini server; and a check that no code opens
an image any other way."""

from __future__ import annotations

import ast
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.fake_gemini import FakeGemini

from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.store.models import Asset, AssetState, Manifest

REPO = Path(__file__).resolve().parents[2]
API_KEY = "AIzaSy-test-SECRET-key-paths-0123456789"
SECRET = (255, 0, 255)  # magenta: no good image here has it
GOOD = (20, 120, 40)


@pytest.fixture
def gemini():
    with FakeGemini() as server:
        yield server


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the project holding a private image."""
    folder = tmp_path / "outside"
    folder.mkdir()
    Image.new("RGB", (64, 48), SECRET).save(folder / "secret.png")
    return folder


def run_stages(session, server: FakeGemini):
    settings = session.settings.replace(
        gemini_api_key=API_KEY,
        gemini_base_url=server.base_url,
        prompt_timeout_s=5.0,
        prompt_max_retries=1,
    )
    engine = ManifestingEngine(
        session.project, settings, stages=[ContactSheetStage(), PromptStage()]
    )
    manifest = Manifest.get(Manifest.name == "refs")
    return engine.process_manifest(manifest)


def magenta_share(image: Image.Image) -> float:
    pixels = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int32).reshape(-1, 3)
    near = (pixels[:, 0] > 200) & (pixels[:, 1] < 60) & (pixels[:, 2] > 200)
    return float(near.mean())


def assert_secret_never_left(session, server: FakeGemini) -> None:
    """No request to the model carried the outside image; no contact sheet shows it."""
    for seen in server.seen:
        assert seen.image_bytes is not None
        assert magenta_share(Image.open(io.BytesIO(seen.image_bytes))) == 0
    sheets = Manifest.get(Manifest.name == "refs").contact_sheets
    assert sheets
    for name in sheets:
        with Image.open(session.project.root / name) as sheet:
            assert magenta_share(sheet) == 0


def test_a_planted_row_behind_a_folder_link_is_refused_by_every_stage(session, outside, gemini):
    refs = session.project.root / "refs"
    refs.mkdir()
    Image.new("RGB", (64, 48), GOOD).save(refs / "good.png")
    os.symlink(outside, refs / "cast")  # the scan never descends into it
    reconcile(session.project, session.settings)
    good = Asset.get(Asset.file_path == "refs/good.png")
    # What a copied database can carry: a row whose path runs through the folder link.
    planted = Asset.create(
        manifest=good.manifest,
        name="planted",
        file_path="refs/cast/secret.png",
        content_hash="planted",
        file_size=1,
        width=64,
        height=48,
    )

    run_stages(session, gemini)

    planted = Asset.get_by_id(planted.id)
    errors = " ".join(planted.stage_errors.values())
    assert "outside the project folder" in errors, planted.stage_errors
    assert not planted.reverse_prompt
    assert Asset.get_by_id(good.id).reverse_prompt  # the good image next to it is answered
    assert len(gemini.seen) == 1
    assert_secret_never_left(session, gemini)


def test_a_file_swapped_for_a_link_after_the_scan_is_refused(session, outside, gemini):
    refs = session.project.root / "refs"
    refs.mkdir()
    Image.new("RGB", (64, 48), GOOD).save(refs / "good.png")
    Image.new("RGB", (64, 48), (10, 10, 200)).save(refs / "hero.png")
    reconcile(session.project, session.settings)
    hero = Asset.get(Asset.file_path == "refs/hero.png")
    assert hero.state == AssetState.PENDING
    # Between the scan and the stages, someone with write access to the folder swaps the file.
    (refs / "hero.png").unlink()
    os.symlink(outside / "secret.png", refs / "hero.png")

    run_stages(session, gemini)

    hero = Asset.get_by_id(hero.id)
    assert "outside the project folder" in " ".join(hero.stage_errors.values())
    assert not hero.reverse_prompt
    assert len(gemini.seen) == 1
    assert_secret_never_left(session, gemini)


def test_a_link_that_stays_inside_the_project_is_still_read(session, gemini):
    refs = session.project.root / "refs"
    refs.mkdir()
    Image.new("RGB", (64, 48), GOOD).save(session.project.root / "real.png")
    os.symlink(session.project.root / "real.png", refs / "alias.png")
    reconcile(session.project, session.settings)

    run_stages(session, gemini)

    alias = Asset.get(Asset.file_path == "refs/alias.png")
    assert alias.reverse_prompt and not alias.stage_errors


# -- one way to open an image ---------------------------------------------------------------------
SOURCES = [REPO / "vidpipe", REPO / "tui", REPO / "daemon"]
#: Functions that open a stored image, by the module defining them; each call must say where
#: the file must lie.
NEEDS_WITHIN = {
    "vidpipe.imaging": {"load_rgb", "load_full_rgb", "probe"},
    "vidpipe.pipeline.characters.roles": {"sharpness"},
    "vidpipe.prompting.runner": {"encode_jpeg"},
    "vidpipe.pipeline.contact_sheet": {"render_pages", "write_pages"},
}
#: What reads an image file by itself; only vidpipe/imaging.py may.
IMAGE_READERS = {"open", "imread", "VideoCapture", "Parser"}


def _checked_names(tree: ast.AST) -> set[str]:
    """The names a module calls that open images: imported ones, and module.function."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in NEEDS_WITHIN:
            names |= {a.asname or a.name for a in node.names} & NEEDS_WITHIN[node.module]
    for module, functions in NEEDS_WITHIN.items():
        names |= {f"{module.rsplit('.', 1)[1]}.{f}" for f in functions}
    return names


def _offences(path: Path, relative: str):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    checked = _checked_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = ast.unparse(node.func)
        where = f"{relative}:{node.lineno}"
        if called in checked and not any(
            k.arg in ("within", "images_within") for k in node.keywords
        ):
            yield f"{where}: {called}() without within="
        name = called.rsplit(".", 1)[-1]
        owner = called.rsplit(".", 1)[0] if "." in called else ""
        if relative != "vidpipe/imaging.py" and (
            (name in IMAGE_READERS and owner in ("Image", "PIL.Image", "cv2", "ImageFile"))
            or name == "pillow_open"
        ):
            yield f"{where}: {called}() opens an image itself"


def test_every_image_is_opened_through_imaging_with_a_folder_to_stay_in():
    offenders = []
    for top in SOURCES:
        for path in sorted(top.rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            offenders += _offences(path, relative)
    assert not offenders, "\n".join(offenders)


def test_the_check_above_finds_an_image_opened_another_way(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from PIL import Image\nfrom vidpipe.imaging import load_rgb\n"
        "Image.open(p)\nload_rgb(p, 10)\nload_rgb(p, 10, within=root)\n"
    )
    assert [o.split(": ", 1)[1] for o in _offences(sample, "x.py")] == [
        "Image.open() opens an image itself",
        "load_rgb() without within=",
    ]


# -- the prompt template ---------------------------------------------------------------------------
def test_a_template_swapped_for_a_link_after_the_settings_load_is_never_sent(tmp_path, gemini):
    from vidpipe.store.session import open_project

    secret = tmp_path / "private-notes.txt"
    secret.write_text("PRIVATE: the production's unreleased plot\n")
    secret.chmod(0o600)
    root = tmp_path / "project"
    open_project(root, create=True).close()
    (root / "templates").mkdir()
    (root / "templates" / "mine.txt").write_text("TEAM TEMPLATE: describe $name\n")
    with open(root / "vidpipe.toml", "a", encoding="utf-8") as handle:
        handle.write('\nprompt_template = "templates/mine.txt"\n')  # inside: no trust needed
    (root / "refs").mkdir()
    Image.new("RGB", (64, 48), GOOD).save(root / "refs" / "good.png")
    session = open_project(root)  # the settings load (and check) the template here
    try:
        reconcile(session.project, session.settings)
        # Someone who can write to templates/ swaps the file for a link to a private one.
        (root / "templates" / "mine.txt").unlink()
        os.symlink(secret, root / "templates" / "mine.txt")

        run_stages(session, gemini)
    finally:
        session.close()

    assert len(gemini.seen) == 1
    assert "TEAM TEMPLATE: describe good" in gemini.seen[0].prompt_text
    assert "PRIVATE" not in gemini.seen[0].prompt_text


def test_a_template_named_inside_but_leading_out_is_refused_when_read(tmp_path):
    from vidpipe.errors import ConfigError
    from vidpipe.store.template_file import read_template_text

    secret = tmp_path / "private-notes.txt"
    secret.write_text("PRIVATE\n")
    root = tmp_path / "project"
    (root / "templates").mkdir(parents=True)
    os.symlink(secret, root / "templates" / "mine.txt")
    with pytest.raises(ConfigError, match="outside the project folder"):
        read_template_text(root, "templates/mine.txt")


def test_a_planted_crop_row_naming_a_device_or_a_fifo_is_not_read(session):
    import threading

    from vidpipe.pipeline.extracted import crop_file_intact
    from vidpipe.store.models import Source

    crops = session.project.crops_dir
    os.symlink("/dev/zero", crops / "zero.jpg")  # stat says 0 bytes; reading never ends
    os.mkfifo(crops / "pipe.jpg")  # nobody writes: reading blocks for ever
    manifest = Manifest.create(name="refs", folder="refs")
    parent = Asset.create(manifest=manifest, name="p", file_path="refs/p.png", content_hash="p")
    rows = [
        Asset.create(
            manifest=manifest,
            name=name,
            source=Source.EXTRACTED,
            source_asset=parent,
            file_path=f".vidpipe/crops/{name}.jpg",
            content_hash="x",
            file_size=0,
        )
        for name in ("zero", "pipe")
    ]
    answers = []
    checker = threading.Thread(
        target=lambda: answers.extend(crop_file_intact(session.project, r) for r in rows),
        daemon=True,
    )
    checker.start()
    checker.join(timeout=60)
    assert answers == [False, False]


def test_a_second_user_swapping_an_image_for_a_link_to_roots_file_gets_nothing(gemini):
    """The multi-user form: ``nobody`` may write to the shared image folder but cannot read
    root's 0600 file; it links the file in place of an image, and root's pipeline runs."""
    import shutil
    import subprocess
    import tempfile

    from vidpipe.store.session import open_project

    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to act as a second, unprivileged user")
    shared = Path(tempfile.mkdtemp(prefix="vidpipe-shared-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        secret = shared / "root-only.png"
        Image.new("RGB", (64, 48), SECRET).save(secret)
        secret.chmod(0o600)
        root = shared / "project"
        session = open_project(root, create=True)
        try:
            refs = root / "refs"
            refs.mkdir()
            shutil.chown(refs, group="nogroup")
            refs.chmod(0o2775)
            Image.new("RGB", (64, 48), GOOD).save(refs / "good.png")
            Image.new("RGB", (64, 48), (10, 10, 200)).save(refs / "hero.png")
            (refs / "hero.png").chmod(0o664)
            shutil.chown(refs / "hero.png", group="nogroup")
            reconcile(session.project, session.settings)
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "nobody",
                    "--",
                    "sh",
                    "-c",
                    f"rm {refs / 'hero.png'} && ln -s {secret} {refs / 'hero.png'}",
                ],
                check=True,
                timeout=30,
            )
            assert (refs / "hero.png").is_symlink()

            run_stages(session, gemini)

            hero = Asset.get(Asset.file_path == "refs/hero.png")
            assert "outside the project folder" in " ".join(hero.stage_errors.values())
            assert len(gemini.seen) == 1
            assert_secret_never_left(session, gemini)
        finally:
            session.close()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
