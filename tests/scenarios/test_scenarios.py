"""The scenario matrix (issue 9): real entry points x model-service behaviour (Gemini, or an
OpenAI-compatible server) x project shape x disturbance, each followed by every invariant
(tests/support/scenario_kit.py).

`make test` runs the fixed slice below: every entry, every Gemini behaviour ("mixed" has them all
at once), both shapes and both disturbances appear at least once, in as few scenarios as that
takes (each one starts real processes that load TensorFlow). `make soak N=...`
runs N scenarios drawn at random (``--soak=N``, seeds printed; ``--soak-seed=S`` replays one).
"""

from __future__ import annotations

import pytest

from support.scenario_kit import Scenario, ScenarioRun, check_invariants

SLICE = [
    Scenario("process", "offline", "one", edit=False, kill=False, seed=102),
    # latency, 429 + Retry-After, 503, malformed answers, a body that is not JSON, hangs
    Scenario("process", "mixed", "three", edit=True, kill=False, seed=101),
    Scenario("daemon", "hang", "one", edit=True, kill=True, seed=103),
    Scenario("reprocess", "malformed", "three", edit=True, kill=True, seed=105),
    # the same behaviours from an OpenAI-compatible server (vLLM, Ollama) through the openai SDK
    Scenario("daemon", "mixed", "three", edit=True, kill=True, seed=107, backend="openai"),
]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SLICE, ids=lambda s: s.name)
def test_scenario_slice(scenario, tmp_path):
    run = ScenarioRun(scenario, tmp_path)
    try:
        run.execute()
        check_invariants(run)
    finally:
        run.close()


@pytest.mark.soak
def test_scenario_soak(soak_scenario, tmp_path):
    run = ScenarioRun(soak_scenario, tmp_path)
    try:
        run.execute()
        check_invariants(run)
    finally:
        run.close()


def test_the_invariants_catch_each_kind_of_breakage(tmp_path):
    """The checks can fail: a project broken in every way the invariants describe."""
    from vidpipe.store.models import Asset, AssetState, Manifest, Run, RunStatus, Source
    from vidpipe.store.session import open_project

    scenario = Scenario("process", "offline", "one", edit=True, kill=False, seed=1)
    run = ScenarioRun(scenario, tmp_path)
    open_project(run.root, create=True).close()
    try:
        with run._db():
            manifest = Manifest.create(name="cast", folder="cast")
            common = dict(
                manifest=manifest,
                content_hash="h",
                file_size=1,
                width=1,
                height=1,
                state=AssetState.PROCESSED,
            )
            shot = Asset.create(
                name="shot0", source=Source.UPLOADED, file_path="cast/shot0.jpg", **common
            )  # no prompt at all
            for index in range(2):  # two crops on one file (one crop twice: the schema refuses)
                Asset.create(
                    name="crop",
                    source=Source.EXTRACTED,
                    source_asset=shot,
                    extraction_key=f"det:person:{index}",
                    file_path="crops/a.jpg",
                    reverse_prompt="p",
                    visual_description="d",
                    prompt_origin="offline",
                    **common,
                )
            Run.create(kind="process", manifest=manifest, status=RunStatus.RUNNING)
        run.layout = {"cast": ["shot0.jpg"]}
        run.record.edits.append((shot.id, "name", "renamed by a person"))
        run.record.outputs.append("peewee.OperationalError: database is locked")
        run.record.most_waiting = 2
        run.record.tags_seen[shot.id] = ["REF_01", "REF_02"]  # moved without a person asking
        with pytest.raises(AssertionError) as failure:
            check_invariants(run)
        message = str(failure.value)
        for expected in (
            "'database is locked' in the output",
            "runs left unfinished",
            "two live assets share a file",
            "the person wrote 'renamed by a person'",
            "has no reverse_prompt",
            "2 process runs waiting",
            f"the tag of asset {shot.id} changed by itself: REF_01 -> REF_02",
        ):
            assert expected in message, expected
    finally:
        run.close()
