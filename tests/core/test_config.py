"""Settings: file < environment < arguments, and clear errors naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltrack.config import load_settings
from mltrack.errors import ConfigError


def test_defaults_without_file(tmp_path: Path) -> None:
    settings = load_settings(start=tmp_path, environ={})
    assert settings.config_path is None
    assert settings.autolog is True
    assert settings.logging.batch_size == 1000
    assert settings.tracking_uri is None and settings.project_root == tmp_path.resolve()


def test_file_is_found_upwards_and_env_and_args_override(tmp_path: Path) -> None:
    (tmp_path / ".mltrack.yml").write_text(
        "experiment: from-file\nllm:\n  budget_usd: 1.5\nautolog: false\n"
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    settings = load_settings(start=nested, environ={"MLTRACK_LLM__BUDGET_USD": "3"})
    assert settings.config_path == tmp_path / ".mltrack.yml"
    assert settings.project_root == tmp_path
    assert settings.experiment == "from-file"
    assert settings.llm.budget_usd == 3.0
    assert settings.autolog is False
    explicit = load_settings(start=nested, environ={}, experiment="from-arg")
    assert explicit.experiment == "from-arg"


def test_mlflow_tracking_uri_env_is_honoured(tmp_path: Path) -> None:
    settings = load_settings(start=tmp_path, environ={"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"})
    assert settings.tracking_uri == "http://127.0.0.1:1"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / ".mltrack.yml").write_text("experimnt: typo\n")
    with pytest.raises(ConfigError) as info:
        load_settings(start=tmp_path, environ={})
    message = str(info.value)
    assert ".mltrack.yml" in message and "unknown key 'experimnt'" in message


def test_wrong_type_names_key_and_expected_type(tmp_path: Path) -> None:
    (tmp_path / ".mltrack.yml").write_text("logging:\n  batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"key 'logging.batch_size': expected a valid integer"):
        load_settings(start=tmp_path, environ={})


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MLTRACK_AUTOLOG"):
        load_settings(start=tmp_path, environ={"MLTRACK_AUTOLOG": "sometimes"})


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".mltrack.yml").write_text("experiment: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(start=tmp_path, environ={})


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / ".mltrack.yml").write_text("experiment: demo\nllm:\n\tbudget_usd: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(start=tmp_path, environ={})
    message = str(info.value)
    assert message.startswith(f"{tmp_path.resolve() / '.mltrack.yml'}:3:1: not valid YAML (")
    assert "'\\t'" in message and "\n" not in message


def test_unknown_top_level_env_vars_are_ignored_and_reported(tmp_path: Path) -> None:
    from mltrack.config import unknown_env_vars

    env = {"MLTRACK_SITE_DIR": "/tmp/site", "MLTRACK_EXPERIMNT": "typo", "MLTRACK_EXPERIMENT": "ok"}
    settings = load_settings(start=tmp_path, environ=env)
    assert settings.experiment == "ok"
    assert unknown_env_vars(env) == ["MLTRACK_EXPERIMNT"]


def test_unknown_key_inside_a_section_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MLTRACK_LLM__BUDGT"):
        load_settings(start=tmp_path, environ={"MLTRACK_LLM__BUDGT": "1"})


def test_every_mltrack_variable_the_code_reads_is_known_to_ml_doctor() -> None:
    """A variable mltrack itself sets or reads (the docs build's fork server, a process
    owner...) is never reported by `ml doctor` as an unknown one (a typo)."""
    import re
    from pathlib import Path

    import mltrack
    from mltrack.config import unknown_env_vars

    source = Path(mltrack.__file__).parent
    names = {
        name
        for path in source.rglob("*.py")
        for name in re.findall(r"[\"'](MLTRACK_[A-Z_]+)[\"']", path.read_text())
        if not name.endswith("_")  # a prefix such as MLTRACK_DOCS__
    }
    assert "MLTRACK_FORKSERVER" in names and "MLTRACK_OWNER_PID" in names
    assert unknown_env_vars({name: "1" for name in names}) == []


def test_an_error_names_the_file_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the working directory the file is named as a person would type it; a file
    found above it keeps its full path (a relative one would need `..` counting)."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / ".mltrack.yml").write_text("autolog: sometimes\n")
    monkeypatch.chdir(project)
    with pytest.raises(ConfigError) as here:
        load_settings()
    assert str(here.value).startswith(".mltrack.yml: key 'autolog'"), str(here.value)
    monkeypatch.chdir(project / "src")
    with pytest.raises(ConfigError) as below:
        load_settings()
    assert str(below.value).startswith(f"{(project / '.mltrack.yml').resolve()}: "), below.value
