"""Settings: vidpipe.toml + VIDPIPE_* precedence, clear errors, the init template, secrets."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from vidpipe.config import CONFIG_FILENAME, Settings, load_settings, settings_template
from vidpipe.errors import ConfigError
from vidpipe.project import init_project


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILENAME).write_text(text, encoding="utf-8")
    return folder


def test_defaults_without_file_or_environment(tmp_path):
    assert load_settings(tmp_path, env={}) == Settings()
    assert load_settings(None, env={}).contact_sheet_columns == 4


def test_precedence_defaults_then_file_then_environment(tmp_path):
    write_config(tmp_path, 'contact_sheet_columns = 6\nprompt_concurrency = 3\n'
                           'detection_classes = ["person", "dog"]\ngemini_model = "from-file"\n')
    env = {"VIDPIPE_PROMPT_CONCURRENCY": "8", "VIDPIPE_DETECTION_CLASSES": "cat, car",
           "VIDPIPE_FACE_DISTANCE_THRESHOLD": "0.05", "VIDPIPE_MODELS_DIR": "~/weights"}
    settings = load_settings(tmp_path, env=env)
    assert settings.contact_sheet_columns == 6  # file over default
    assert settings.prompt_concurrency == 8  # environment over file
    assert settings.detection_classes == ("cat", "car")
    assert settings.gemini_model == "from-file"
    assert settings.face_distance_threshold == 0.05
    assert settings.models_dir == Path("~/weights").expanduser()
    assert settings.contact_sheet_thumb_px == 256  # untouched default
    assert load_settings(tmp_path, env={}).detection_classes == ("person", "dog")


@pytest.mark.parametrize("source, setting", [
    ("file", "contact_sheet_columns"),
    ("env", "prompt_timeout_s"),
    ("env", "max_image_pixels"),
])
def test_bad_value_names_the_setting(tmp_path, source, setting):
    if source == "file":
        write_config(tmp_path, f'{setting} = "four"\n')
        env = {}
    else:
        env = {f"VIDPIPE_{setting.upper()}": "lots"}
    with pytest.raises(ConfigError, match=setting):
        load_settings(tmp_path, env=env)


def test_unknown_setting_and_broken_toml_are_clear(tmp_path):
    write_config(tmp_path, "contact_sheet_colums = 4\n")
    with pytest.raises(ConfigError, match="unknown setting 'contact_sheet_colums'"):
        load_settings(tmp_path, env={})
    write_config(tmp_path, "contact_sheet_columns = = 4\n")
    with pytest.raises(ConfigError, match=CONFIG_FILENAME):
        load_settings(tmp_path, env={})


def test_api_key_only_from_environment_and_never_in_repr(tmp_path):
    write_config(tmp_path, 'gemini_api_key = "in-a-file"\n')
    with pytest.raises(ConfigError, match="gemini_api_key"):
        load_settings(tmp_path, env={})
    write_config(tmp_path, "")
    settings = load_settings(tmp_path, env={"GOOGLE_API_KEY": "g-key-123"})
    assert settings.gemini_api_key == "g-key-123"
    settings = load_settings(tmp_path, env={"GOOGLE_API_KEY": "g-key-123",
                                            "GEMINI_API_KEY": "secret-key-456"})
    assert settings.gemini_api_key == "secret-key-456"
    assert "secret-key-456" not in repr(settings) and "secret-key-456" not in str(settings)
    assert settings == settings.replace(gemini_api_key=None)  # not part of equality either
    assert load_settings(tmp_path, env={"VIDPIPE_GEMINI_API_KEY": "x"}).gemini_api_key is None


def test_template_parses_and_documents_every_setting(tmp_path):
    template = settings_template()
    assert tomllib.loads(template) == {}  # every line commented out: parses as-is
    public = [f.name for f in fields(Settings) if f.name != "gemini_api_key"]
    for name in public:
        assert f"# {name} = " in template, name
    assert "gemini_api_key" not in template.replace("GEMINI_API_KEY", "")

    # Uncommenting every setting line gives a TOML file that loads to the defaults.
    enabled = "\n".join(line[2:] if any(line.startswith(f"# {n} = ") for n in public) else line
                        for line in template.splitlines())
    data = tomllib.loads(enabled)
    assert set(data) == set(public)
    write_config(tmp_path, enabled)
    assert load_settings(tmp_path, env={}) == Settings()


def test_each_setting_has_a_doc_line():
    template = settings_template().splitlines()
    for index, line in enumerate(template):
        if line.startswith("# ") and " = " in line and not line.startswith("# vidpipe"):
            assert template[index - 1].strip("# ").strip(), f"no doc for {line}"


def test_init_writes_template_once(tmp_path):
    project = init_project(tmp_path / "p")
    assert project.config_path.read_text(encoding="utf-8") == settings_template()
    project.config_path.write_text("contact_sheet_columns = 3\n", encoding="utf-8")
    init_project(tmp_path / "p")
    assert load_settings(project.root, env={}).contact_sheet_columns == 3


def test_boolean_settings_are_parsed_not_truthy():
    from vidpipe.config import _coerce

    assert _coerce("flag", "false", "bool") is False
    assert _coerce("flag", "YES", "bool") is True
    assert _coerce("flag", False, "bool") is False
    with pytest.raises(ConfigError, match="'flag'"):
        _coerce("flag", "maybe", "bool")


@pytest.mark.parametrize("setting, value", [
    ("contact_sheet_columns", "0"), ("contact_sheet_rows_per_page", "-1"),
    ("detection_confidence", "1.5"), ("prompt_concurrency", "0"),
])
def test_out_of_range_values_are_refused_by_name(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=f"'{setting}'.*out of range"):
        load_settings(tmp_path, env={f"VIDPIPE_{setting.upper()}": value})
