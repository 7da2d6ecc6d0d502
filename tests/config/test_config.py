"""``ct.get_config`` / ``ct.set_config`` / ``ct.reload_config`` and ``valence config``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from typer.testing import CliRunner

import valence as ct
from valence.cli.main import app
from valence.config import load_settings
from valence.errors import ConfigError


def config_file(home):
    return home / "valence.toml"


def test_defaults_without_a_file(valence_home, monkeypatch):
    monkeypatch.delenv("VALENCE_EXECUTOR")
    assert ct.get_config("executors.local.workers") == 0
    assert ct.get_config("sdk.executor") == "local"
    whole = ct.get_config()
    assert whole["executors"]["dask"]["threads_per_worker"] == 1
    assert ct.get_config(["sdk.executor", "executors.thread.workers"]) == {
        "sdk.executor": "local",
        "executors.thread.workers": 0,
    }
    assert ct.get_config(["sdk.executor"]) == "local"  # Covalent: a one-key list is the value
    assert not config_file(valence_home).exists()


def test_covalent_customization_howto_runs_unchanged(valence_home):
    # doc/source/how_to/config/customization.ipynb, import line changed
    ct.get_config()
    ct.set_config("sdk.enable_logging", "false")
    ct.set_config({"sdk.enable_logging": "true", "sdk.log_level": "debug"})
    ct.reload_config()
    assert ct.get_config("sdk.enable_logging") == "true"
    assert ct.get_config(["sdk.log_level"]) == "debug"
    data = tomllib.loads(config_file(valence_home).read_text())
    assert data["sdk"] == {"enable_logging": "true", "log_level": "debug"}
    assert config_file(valence_home).stat().st_mode & 0o777 == 0o600


def test_set_is_seen_by_another_process(valence_home):
    ct.set_config("executors.local.workers", 3)
    code = "import valence as ct; print(ct.get_config('executors.local.workers'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_environment_wins_over_the_file(valence_home, monkeypatch):
    ct.set_config({"sdk.executor": "inline", "database.url": "sqlite:///elsewhere.db"})
    assert ct.get_config("sdk.executor") == "thread"  # VALENCE_EXECUTOR from conftest
    assert load_settings().executor == "thread"
    monkeypatch.delenv("VALENCE_EXECUTOR")
    assert ct.get_config("sdk.executor") == "inline"
    settings = load_settings()
    assert settings.executor == "inline"
    assert settings.database_url == "sqlite:///elsewhere.db"
    monkeypatch.setenv("VALENCE_DATABASE_URL", "sqlite:///env.db")
    assert load_settings().database_url == "sqlite:///env.db"


def test_the_file_is_reread_when_it_changes_and_on_reload(valence_home):
    ct.set_config("executors.thread.workers", 2)
    text = config_file(valence_home).read_text().replace("workers = 2", "workers = 5")
    config_file(valence_home).write_text(text + "\n# edited by hand\n")
    ct.reload_config()
    assert ct.get_config("executors.thread.workers") == 5


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("executors.local.workers", "four", "takes a int"),
        ("executors.local.workers", True, "takes a int"),
        ("executors.local", 3, "is a table"),
        ("executors..workers", 3, "dotted path"),
        ("", 3, "dotted path"),
        ("plugin.setting", None, "cannot hold NoneType"),
        ("plugin.setting", object(), "cannot hold object"),
    ],
)
def test_bad_keys_and_values_write_nothing(valence_home, key, value, needle):
    ct.set_config("sdk.note", "kept")
    before = config_file(valence_home).read_bytes()
    with pytest.raises(ConfigError, match=needle):
        ct.set_config({"sdk.other": "x", key: value})
    assert config_file(valence_home).read_bytes() == before


def test_setting_below_a_value_is_refused(valence_home):
    ct.set_config("plugin.x", 1)
    with pytest.raises(ConfigError, match="holds a value, not a table"):
        ct.set_config("plugin.x.y", 2)


def test_unknown_key_is_a_key_error_naming_it(valence_home):
    with pytest.raises(KeyError, match=r"no config key 'executors\.local\.nope'"):
        ct.get_config("executors.local.nope")


def test_damaged_file_is_a_clear_error(valence_home):
    valence_home.mkdir(parents=True, exist_ok=True)
    config_file(valence_home).write_text("[executors.local\nworkers = ")
    with pytest.raises(ConfigError, match=r"not valid TOML.*fix or delete it"):
        ct.get_config("executors.local.workers")


def test_two_processes_setting_keys_at_once_lose_nothing(valence_home):
    code = (
        "import sys, valence as ct\n"
        "for i in range(25): ct.set_config(f'race.p{sys.argv[1]}_{i}', i)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    race = ct.get_config("race")
    assert race == {f"p{n}_{i}": i for n in range(2) for i in range(25)}


def test_the_server_address_and_body_limit_come_from_the_file(valence_home, monkeypatch):
    from valence.config import max_request_bytes, server_address

    monkeypatch.delenv("VALENCE_MAX_REQUEST_BYTES", raising=False)
    ct.set_config({"server.address": "127.0.0.1:9", "server.max_request_bytes": 1000})
    assert server_address() == "http://127.0.0.1:9"
    assert max_request_bytes() == 1000
    monkeypatch.setenv("VALENCE_SERVER", "127.0.0.1:10")
    assert server_address() == "http://127.0.0.1:10"


text_values = hs.text(hs.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
values = hs.recursive(
    hs.one_of(
        text_values, hs.integers(-(2**63), 2**63 - 1), hs.booleans(), hs.floats(allow_nan=False)
    ),
    lambda inner: hs.lists(inner, max_size=4),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=hs.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), value=values)
def test_any_toml_value_round_trips(valence_home, key, value):
    ct.set_config(f"fuzz.{key}", value)
    assert ct.get_config(f"fuzz.{key}") == value


def test_cli_get_set_list(valence_home, monkeypatch):
    monkeypatch.delenv("VALENCE_EXECUTOR")
    runner = CliRunner()
    result = runner.invoke(app, ["config", "set", "executors.local.workers", "4"])
    assert result.exit_code == 0, result.output
    assert "executors.local.workers = 4" in result.output
    assert ct.get_config("executors.local.workers") == 4
    result = runner.invoke(app, ["config", "set", "executors.local.workdir", "/tmp/w d"])
    assert ct.get_config("executors.local.workdir") == "/tmp/w d"
    result = runner.invoke(app, ["config", "get", "executors.local.workers"])
    assert result.output.strip() == "4"
    result = runner.invoke(app, ["config", "list"])
    assert "sdk.executor = local" in result.output
    assert str(valence_home / "valence.toml") in result.output
    result = runner.invoke(app, ["config", "set", "executors.local.workers", "many"])
    assert result.exit_code == 1
    assert result.output.startswith("error: config key 'executors.local.workers' takes a int")
    result = runner.invoke(app, ["config", "get", "nope.nope"])
    assert result.exit_code == 1 and "no config key" in result.output
    assert os.environ.get("VALENCE_HOME") == str(valence_home)
