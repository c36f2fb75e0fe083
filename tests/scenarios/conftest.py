"""The soak: --soak=N randomized scenarios (options declared in tests/conftest.py), skipped
unless asked for (make soak N=...)."""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc):
    if "soak_scenario" not in metafunc.fixturenames:
        return
    import time

    from support.scenario_kit import Scenario

    count = metafunc.config.getoption("--soak")
    first = metafunc.config.getoption("--soak-seed")
    if first is None:
        first = int(time.time()) % 1_000_000 * 1000
    scenarios = [Scenario.from_seed(first + index) for index in range(count)]
    metafunc.parametrize("soak_scenario", scenarios, ids=[s.name for s in scenarios])


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak scenarios run with make soak N=... (--soak=N)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
