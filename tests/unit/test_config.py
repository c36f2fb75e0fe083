"""Settings: precedence (defaults < user config < vidpipe.toml < VIDPIPE_*), the secret, the init
template, and every value refused by a message that names the setting and where it came from."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from vidpipe.config.settings import (
    CONFIG_FILENAME,
    PUBLIC_FIELDS,
    Settings,
    load_settings,
    settings_template,
)
from vidpipe.errors import ConfigError
from vidpipe.store.project import init_project
from vidpipe.config.settings_files import user_config_path


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILENAME).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    """The person's own config file, in a config folder of this test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = user_config_path()
    path.parent.mkdir(parents=True)
    return path


def test_defaults_without_file_or_environment(tmp_path):
    assert load_settings(tmp_path, env={}) == Settings()
    assert load_settings(None, env={}).contact_sheet_columns == 4


def test_precedence_defaults_then_user_file_then_project_then_environment(tmp_path, user_config):
    user_config.write_text(
        "contact_sheet_columns = 5\ncontact_sheet_thumb_px = 128\n"
        'gemini_base_url = "http://127.0.0.1:9/"\n'
    )
    write_config(
        tmp_path,
        "contact_sheet_columns = 6\nprompt_concurrency = 3\n"
        'detection_classes = ["person", "dog"]\ngemini_model = "from-file"\n',
    )
    env = {
        "VIDPIPE_PROMPT_CONCURRENCY": "8",
        "VIDPIPE_DETECTION_CLASSES": "cat, car",
        "VIDPIPE_FACE_DISTANCE_THRESHOLD": "0.05",
        "VIDPIPE_MODELS_DIR": "~/weights",
    }
    settings = load_settings(tmp_path, env=env)
    assert settings.contact_sheet_thumb_px == 128  # user file over default
    assert settings.gemini_base_url == "http://127.0.0.1:9/"  # the person's own: no trust needed
    assert settings.contact_sheet_columns == 6  # project file over user file
    assert settings.prompt_concurrency == 8  # environment over file
    assert settings.detection_classes == ("cat", "car")
    assert settings.gemini_model == "from-file"
    assert settings.face_distance_threshold == 0.05
    assert settings.models_dir == Path("~/weights").expanduser()
    assert settings.contact_sheet_label_px == 60  # untouched default
    assert load_settings(tmp_path, env={}).detection_classes == ("person", "dog")
    assert (
        load_settings(
            tmp_path, env={"VIDPIPE_FACE_DISTANCE_THRESHOLD": "none"}
        ).face_distance_threshold
        is None
    )


def test_settings_in_code_do_not_read_the_environment(monkeypatch):
    monkeypatch.setenv("VIDPIPE_CONTACT_SHEET_COLUMNS", "9")
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    assert Settings().contact_sheet_columns == 4 and Settings().gemini_api_key is None
    assert load_settings(None).contact_sheet_columns == 9  # os.environ by default


# -- numeric edge cases, from the file and from the environment --------------------------------
NUMERIC_CASES = [
    # setting, TOML literal, environment value, what the message says
    ("contact_sheet_columns", "nan", "nan", "finite number|whole number"),
    ("prompt_timeout_s", "nan", "nan", "finite number"),
    ("prompt_timeout_s", "inf", "inf", "finite number"),
    ("detection_confidence", "-inf", "-inf", "finite number"),
    ("max_image_pixels", "inf", "Infinity", "finite number|whole number"),
    ("face_distance_threshold", "nan", "NaN", "finite number"),
    ("contact_sheet_columns", "3.7", "3.7", "whole number"),
    ("prompt_max_retries", "2.5", "2.5", "whole number"),
    ("contact_sheet_columns", "true", "true", "not true/false|whole number"),
    ("detection_confidence", "true", "true", "not true/false|must be a number"),
    ("face_distance_threshold", "false", "yes", "not true/false|number"),
    ("contact_sheet_rows_per_page", "-1", "-1", "out of range .must be at least 1"),
    ("prompt_concurrency", "0", "0", "out of range .must be at least 1"),
    ("detection_confidence", "1.5", "1.5", "out of range .must be at most 1"),
    ("prompt_timeout_s", "0", "0", "out of range .must be more than 0"),
    ("max_image_pixels", "1_000_000_000_000", "1000000000000", "out of range .must be at most"),
    ("detection_batch_size", "99999999999999999999", "99999999999999999999", "out of range"),
    ("contact_sheet_columns", '"four"', "four", "whole number"),
]


@pytest.mark.parametrize("setting, literal, env_value, reason", NUMERIC_CASES)
def test_bad_number_in_the_file_is_refused_by_name(tmp_path, setting, literal, env_value, reason):
    write_config(tmp_path, f"{setting} = {literal}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(tmp_path, env={})
    message = str(refused.value)
    assert f"setting {setting!r} in {tmp_path / CONFIG_FILENAME}" in message
    assert re.search(reason, message), message


@pytest.mark.parametrize("setting, literal, env_value, reason", NUMERIC_CASES)
def test_bad_number_in_the_environment_is_refused_by_name(
    tmp_path, setting, literal, env_value, reason
):
    with pytest.raises(ConfigError) as refused:
        load_settings(tmp_path, env={f"VIDPIPE_{setting.upper()}": env_value})
    message = str(refused.value)
    assert f"setting {setting!r} from VIDPIPE_{setting.upper()}" in message
    assert re.search(reason, message), message


def test_whole_float_and_int_forms_are_accepted(tmp_path):
    write_config(tmp_path, "contact_sheet_columns = 3.0\ndetection_confidence = 1\n")
    settings = load_settings(tmp_path, env={})
    assert settings.contact_sheet_columns == 3 and isinstance(settings.contact_sheet_columns, int)
    assert settings.detection_confidence == 1.0


def test_contact_sheet_page_that_would_not_fit_in_memory_is_refused(tmp_path):
    write_config(
        tmp_path,
        "contact_sheet_columns = 64\ncontact_sheet_thumb_px = 4096\n"
        "contact_sheet_rows_per_page = 1000\n",
    )
    with pytest.raises(ConfigError, match="contact-sheet page of 262144 x 4156000 px is too large"):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    "setting, value, reason",
    [
        ("device", "cuda; rm -rf /", "not an accepted value"),
        ("gemini_model", "../../v1beta/files", "not an accepted value"),
        ("gemini_model", "gemini?key=x", "not an accepted value"),
        ("face_model", "Dlib --x", "not an accepted value"),
        ("yolo_weights", " ", "must name a weights file"),
        ("gemini_base_url", "file:///etc/passwd", "http:// or https://"),
        ("database_url", "mysql://db/x", "unsupported scheme mysql:"),
        ("database_url", "/tmp/plain/path.db", "unsupported scheme .none."),
        ("database_url", "sqlite:///", "must be sqlite:///PATH"),
        ("database_url", "postgresql://host", "must name a database"),
        ("queue_url", "amqp://broker", "unsupported scheme amqp:"),
    ],
)
def test_bad_text_values_are_refused_by_name(tmp_path, setting, value, reason):
    with pytest.raises(ConfigError, match=reason) as refused:
        load_settings(tmp_path, env={f"VIDPIPE_{setting.upper()}": value})
    assert f"setting {setting!r} from VIDPIPE_{setting.upper()}" in str(refused.value)


def test_wrong_toml_types_and_nul_characters_are_refused(tmp_path):
    write_config(tmp_path, "device = 5\n")
    with pytest.raises(ConfigError, match="'device'.*must be text"):
        load_settings(tmp_path, env={})
    write_config(tmp_path, 'gemini_model = "a\\u0000b"\n')
    with pytest.raises(ConfigError, match="'gemini_model'.*NUL"):
        load_settings(tmp_path, env={})
    write_config(tmp_path, "detection_classes = 3\n")
    with pytest.raises(ConfigError, match="'detection_classes'"):
        load_settings(tmp_path, env={})


def test_escape_sequences_in_a_value_never_reach_the_terminal_raw(tmp_path):
    write_config(tmp_path, 'device = "\\u001b]0;owned\\u0007"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(tmp_path, env={})
    assert "\x1b" not in str(refused.value) and "\\x1b" in str(refused.value)


def test_unknown_setting_and_tables_are_refused_with_a_suggestion(tmp_path):
    write_config(tmp_path, "contact_sheet_colums = 4\n")
    with pytest.raises(
        ConfigError,
        match="unknown setting 'contact_sheet_colums' .did you mean 'contact_sheet_columns'",
    ):
        load_settings(tmp_path, env={})
    write_config(tmp_path, "[gemini]\nmodel = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'gemini'"):
        load_settings(tmp_path, env={})


# -- the file itself ------------------------------------------------------------------------------
def test_a_settings_file_that_cannot_be_used_is_one_clear_message(tmp_path):
    config = tmp_path / CONFIG_FILENAME
    config.write_bytes(b"contact_sheet_columns = 4\n# caf\xe9 in Latin-1\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0xe9 at offset 31\)"):
        load_settings(tmp_path, env={})

    config.write_text("contact_sheet_columns = = 4\n")
    with pytest.raises(ConfigError, match=f"{CONFIG_FILENAME} is not valid TOML: .*line 1"):
        load_settings(tmp_path, env={})

    config.unlink()
    config.mkdir()
    with pytest.raises(ConfigError, match="is a folder; it must be a settings file"):
        load_settings(tmp_path, env={})

    config.rmdir()
    os.mkfifo(config)  # an open() without O_NONBLOCK would wait here for ever
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_settings(tmp_path, env={})

    config.unlink()
    config.symlink_to(tmp_path / "gone.toml")
    with pytest.raises(ConfigError, match="is a link to a file that does not exist"):
        load_settings(tmp_path, env={})

    config.unlink()
    config.symlink_to(config)  # a loop: the file cannot be opened at all
    with pytest.raises(ConfigError, match=f"cannot read {config}: Too many levels"):
        load_settings(tmp_path, env={})

    config.unlink()
    config.write_bytes(b"# " + b"x" * 1_000_001 + b"\n")
    with pytest.raises(ConfigError, match="larger than 1000000 bytes"):
        load_settings(tmp_path, env={})

    config.write_bytes("\ufeffcontact_sheet_columns = 7\n".encode())  # a BOM is fine
    assert load_settings(tmp_path, env={}).contact_sheet_columns == 7


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_settings_file_is_one_clear_message(tmp_path):
    config = write_config(tmp_path, "contact_sheet_columns = 4\n") / CONFIG_FILENAME
    config.chmod(0)
    with pytest.raises(ConfigError, match=f"cannot read {config}: Permission denied"):
        load_settings(tmp_path, env={})


def test_a_broken_user_config_file_is_named_too(tmp_path, user_config):
    user_config.write_text("prompt_concurrency = nan\n")
    with pytest.raises(ConfigError, match=f"setting 'prompt_concurrency' in {user_config}"):
        load_settings(tmp_path, env={})


# -- the secret -----------------------------------------------------------------------------------
def test_api_key_only_from_environment_and_never_in_repr(tmp_path, user_config):
    write_config(tmp_path, 'gemini_api_key = "in-a-file"\n')
    with pytest.raises(ConfigError, match="'gemini_api_key' cannot be set in a file"):
        load_settings(tmp_path, env={})
    write_config(tmp_path, 'GEMINI_API_KEY = "in-a-file"\n')
    with pytest.raises(ConfigError, match="cannot be set in a file"):
        load_settings(tmp_path, env={})
    user_config.write_text('gemini_api_key = "in-my-file"\n')
    with pytest.raises(ConfigError, match="cannot be set in a file"):
        load_settings(None, env={})
    user_config.unlink()
    write_config(tmp_path, "")
    settings = load_settings(tmp_path, env={"GOOGLE_API_KEY": "g-key-123"})
    assert settings.gemini_api_key == "g-key-123"
    settings = load_settings(
        tmp_path, env={"GOOGLE_API_KEY": "g-key-123", "GEMINI_API_KEY": "secret-key-456"}
    )
    assert settings.gemini_api_key == "secret-key-456"
    assert "secret-key-456" not in repr(settings) and "secret-key-456" not in str(settings)
    assert "secret-key-456" not in settings.model_dump_json()
    assert settings == settings.replace(gemini_api_key=None)  # not part of equality either
    assert hash(settings) == hash(settings.replace(gemini_api_key=None))
    assert load_settings(tmp_path, env={"VIDPIPE_GEMINI_API_KEY": "x"}).gemini_api_key is None


def test_replace_validates_like_loading():
    assert Settings().replace(contact_sheet_columns=3).contact_sheet_columns == 3
    with pytest.raises(ConfigError, match="'contact_sheet_columns'.*out of range"):
        Settings().replace(contact_sheet_columns=0)


# -- the template ---------------------------------------------------------------------------------
def test_template_parses_and_documents_every_setting(tmp_path):
    template = settings_template()
    assert tomllib.loads(template) == {}  # every line commented out: parses as-is
    for name in PUBLIC_FIELDS:
        assert f"# {name} = " in template, name
    assert "gemini_api_key" not in template.replace("GEMINI_API_KEY", "")
    assert "vidpipe trust PROJECT" in template  # the settings that need trust say so

    # Uncommenting every setting line gives a TOML file that loads to the defaults, untrusted.
    enabled = "\n".join(
        line[2:] if any(line.startswith(f"# {n} = ") for n in PUBLIC_FIELDS) else line
        for line in template.splitlines()
    )
    data = tomllib.loads(enabled)
    assert set(data) == set(PUBLIC_FIELDS)
    write_config(tmp_path, enabled)
    assert load_settings(tmp_path, env={}) == Settings()


def test_each_setting_has_its_field_doc_above_it():
    template = settings_template().splitlines()
    for name in PUBLIC_FIELDS:
        doc = " ".join(Settings.model_fields[name].description.split())
        line = template.index(next(t for t in template if t.startswith(f"# {name} = ")))
        assert doc in template[line - 1] or doc in template[line - 2], name


def test_init_writes_template_once(tmp_path):
    project = init_project(tmp_path / "p")
    assert project.config_path.read_text(encoding="utf-8") == settings_template()
    project.config_path.write_text("contact_sheet_columns = 3\n", encoding="utf-8")
    init_project(tmp_path / "p")
    assert load_settings(project.root, env={}).contact_sheet_columns == 3


def test_a_table_setting_comes_whole_from_one_layer(tmp_path):
    write_config(tmp_path, 'gemini_prices = { "m" = { input = 1.0, output = 4.0 } }\n')
    env = {"VIDPIPE_GEMINI_PRICES": '{"n": {"input": 2, "output": 3}}'}
    assert load_settings(tmp_path, env=env).gemini_prices == {"n": {"input": 2.0, "output": 3.0}}
    with pytest.raises(ConfigError, match="'prompt_duplicate_faces' in .*is not one of 'reuse'"):
        write_config(tmp_path, 'prompt_duplicate_faces = "sometimes"\n')
        load_settings(tmp_path, env={})


def test_a_deeply_nested_file_is_refused_not_a_crash(tmp_path):
    (tmp_path / CONFIG_FILENAME).write_text(
        "detection_classes = " + "[" * 200_000 + "]" * 200_000 + "\n"
    )
    with pytest.raises(ConfigError, match="nests arrays or tables too deeply"):
        load_settings(tmp_path, env={})
