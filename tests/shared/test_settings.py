import subprocess
import sys

import pytest

from attune_shared.errors import ConfigError
from attune_shared.settings import PacksSettings, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("ATTUNE__") or key == "ATTUNE_CONFIG":
            monkeypatch.delenv(key)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.nats.prefix == "attune"
    assert settings.timescale.required is False
    assert settings.api.port == 8080


def test_the_default_packs_home_is_in_the_home_directory(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    """Not ``./~/.attune`` under the working directory (read-only ``/app`` in the image), as when the
    default skipped the validator that expands ``~``."""
    clean_env.setenv("HOME", str(tmp_path))
    assert PacksSettings().home == tmp_path / ".attune"
    clean_env.setenv("ATTUNE__PACKS__HOME", "~/elsewhere")
    assert load_settings().packs.home == tmp_path / "elsewhere"


def test_env_overrides_yaml_overrides_defaults(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("nats:\n  prefix: fromyaml\n  url: nats://yaml:4222\napi:\n  port: 9000\n")
    clean_env.setenv("ATTUNE_CONFIG", str(config))
    clean_env.setenv("ATTUNE__NATS__PREFIX", "fromenv")
    clean_env.setenv("ATTUNE__TIMESCALE__REQUIRED", "true")
    settings = load_settings()
    assert settings.nats.prefix == "fromenv"  # env beats yaml
    assert settings.nats.url == "nats://yaml:4222"  # yaml beats default
    assert settings.api.port == 9000
    assert settings.timescale.required is True


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ATTUNE__NATS__URL": "http://x"}, "nats.url (ATTUNE__NATS__URL) = 'http://x'"),
        ({"ATTUNE__NATS__PREFIX": "Bad.Prefix"}, "nats.prefix (ATTUNE__NATS__PREFIX)"),
        ({"ATTUNE__API__PORT": "eighty"}, "api.port (ATTUNE__API__PORT) = 'eighty'"),
        ({"ATTUNE__DATABASE__URL": "mysql://x"}, "database.url (ATTUNE__DATABASE__URL)"),
        ({"ATTUNE__NATS__URLL": "nats://x:1"}, "nats.urll (ATTUNE__NATS__URLL): unknown setting"),
        ({"ATTUNE__ENVIRONMENT": "production"}, "security.secret_key is the placeholder"),
    ],
)
def test_bad_setting_names_the_setting(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for key, value in env.items():
        clean_env.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_placeholder_secret_is_fine_in_development(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ATTUNE__ENVIRONMENT", "development")
    assert load_settings().security.secret_key.get_secret_value() == "changethis"


def test_secret_value_is_never_echoed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ATTUNE__SECURITY__SECRET_KEY", "")
    clean_env.setenv("ATTUNE__SECURITY__NOPE", "hunter2")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter2" not in str(info.value)


def test_unreadable_config_file(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    clean_env.setenv("ATTUNE_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="ATTUNE_CONFIG=.*missing.yaml: cannot read"):
        load_settings()
    bad = tmp_path / "bad.yaml"
    bad.write_text("nats: [unclosed")
    clean_env.setenv("ATTUNE_CONFIG", str(bad))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        f"ATTUNE_CONFIG={bad}: invalid YAML: expected ',' or ']', but got '<stream end>' (line 1, column 16)"
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- nats\n", "the top level must be a mapping of sections"),
        ("api:\n  port: 1\n  port: 2\n", "invalid YAML: duplicate key 'port' (line 3, column 3)"),
        ("security:\n  secret_key: hunter2\n  secret_key: hunter3\n", "duplicate key 'secret_key'"),
        ("api:\n  porrt: 1\n", "invalid setting api.porrt (ATTUNE__API__PORRT): unknown setting"),
        ("api:\n  port: eighty\n", "invalid setting api.port (ATTUNE__API__PORT) = 'eighty'"),
        ("nats: {prefix: 7}\n", "invalid setting nats.prefix (ATTUNE__NATS__PREFIX) = 7"),
        (  # pathlib raises RuntimeError for it: a traceback, before
            "packs: {home: ~no-such-user-attune/x}\n",
            "invalid setting packs.home (ATTUNE__PACKS__HOME) = '~no-such-user-attune/x': "
            "~no-such-user-attune names no user of this machine",
        ),
    ],
)
def test_bad_config_file_is_one_line(clean_env: pytest.MonkeyPatch, tmp_path, text: str, needle: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    clean_env.setenv("ATTUNE_CONFIG", str(config))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert needle in str(info.value)
    assert "\n" not in str(info.value) and "hunter" not in str(info.value)


def test_config_file_is_yaml_1_2(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    """Booleans may be written yes/on (a bool setting reads them), strings stay strings, an empty file is
    the defaults."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "timescale: {required: yes}\napi: {docs_public: on, cors_origins: [on]}\nexecutor: {name: no}\n"
    )
    clean_env.setenv("ATTUNE_CONFIG", str(config))
    settings = load_settings()
    assert settings.timescale.required is True and settings.api.docs_public is True
    assert settings.api.cors_origins == ["on"]
    assert settings.executor.name == "no"  # YAML 1.1 read a boolean here, refused for a string field
    config.write_text("")
    assert load_settings().api.port == 8080


def test_cli_exits_2_with_one_line(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ATTUNE__NATS__PREFIX", "UPPER")
    result = subprocess.run(
        [sys.executable, "-m", "attune_cli", "migrate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ATTUNE__NATS__PREFIX" in lines[0]
