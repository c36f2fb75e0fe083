"""The one line that names the extra to install (vidpipe.extras). bench/check_light.sh checks
the real thing: a fresh venv without the extras, where the stages and settings that need them
say so."""

from __future__ import annotations

import pytest

from vidpipe.errors import ModelUnavailable, VidpipeError
from vidpipe.extras import EXTRAS, MissingExtra, missing_reason, require


def test_an_installed_extra_has_nothing_to_say():
    assert missing_reason("scale", "a PostgreSQL database_url", ("psycopg2",)) is None
    require("gemini", "reverse prompting with Gemini")


def test_a_missing_package_names_the_extra_and_the_pip_command():
    reason = missing_reason("vision", "detection", ("ultralytics", "vidpipe_no_such_package"))
    assert reason == (
        "detection needs vidpipe[vision] (vidpipe_no_such_package not installed): "
        "pip install 'vidpipe[vision]'"
    )


def test_a_missing_parent_package_counts_as_missing():
    assert "no_such_parent.genai" in missing_reason("gemini", "x", ("no_such_parent.genai",))


def test_require_raises_a_one_line_vidpipe_error():
    with pytest.raises(MissingExtra) as raised:
        require("openai", 'prompt_backend = "openai"', ("vidpipe_no_such_package",))
    assert isinstance(raised.value, ModelUnavailable) and isinstance(raised.value, VidpipeError)
    assert "\n" not in str(raised.value)
    assert str(raised.value).endswith("pip install 'vidpipe[openai]'")


def test_every_extra_in_pyproject_is_known_here():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = set(pyproject["project"]["optional-dependencies"]) - {"all", "test"}
    assert declared == set(EXTRAS)
