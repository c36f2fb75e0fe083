"""The soak: --soak=N randomized scenarios (options declared in tests/conftest.py), skipped
unless asked for (make soak N=...)."""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc):
    import time

    count = metafunc.config.getoption("--soak")
    first = metafunc.config.getoption("--soak-seed")
    if first is None:
        first = int(time.time()) % 1_000_000 * 1000
    if "soak_scenario" in metafunc.fixturenames:
        from support.scenario_kit import Scenario

        scenarios = [Scenario.from_seed(first + index) for index in range(count)]
        metafunc.parametrize("soak_scenario", scenarios, ids=[s.name for s in scenarios])
    if "soak_fault" in metafunc.fixturenames:
        from support.fault_draws import FaultDraw

        draws = [FaultDraw.from_seed(first + index) for index in range(count)]
        metafunc.parametrize("soak_fault", draws, ids=[d.name for d in draws])


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak scenarios run with make soak N=... (--soak=N)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
