"""One definition of a project's errors: `vidpipe status` lists, and the TUI counts, the same
assets: unusable inputs and assets a stage failed on (never removed ones)."""

from __future__ import annotations

from tui.snapshot import manifest_infos
from vidpipe.store.models import Asset, AssetState, Manifest
from vidpipe.ops.status import error_counts, project_status


def test_status_and_tui_agree_on_errors(session):
    manifest = Manifest.create(name="m", folder="m")

    def asset(name, **fields):
        return Asset.create(
            manifest=manifest, name=name, file_path=f"m/{name}.png", content_hash=name, **fields
        )

    asset("fine", state=AssetState.PROCESSED)
    asset("broken", state=AssetState.ERROR, error="not an image")
    asset("faceless", state=AssetState.PROCESSED, stage_errors={"faces": "detector crashed"})
    asset("gone", state=AssetState.REMOVED, stage_errors={"faces": "old failure"})

    listed = project_status(session.project, session.settings)["manifests"][0]["errors"]
    assert listed == [
        {"file": "m/broken.png", "error": "not an image"},
        {"file": "m/faceless.png", "error": "faces: detector crashed"},
    ]
    assert error_counts() == {manifest.id: 2}
    assert [info.errors for info in manifest_infos({})] == [2]
