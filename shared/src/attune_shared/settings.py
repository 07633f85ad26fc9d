"""The one settings object: defaults < ``config.yaml`` (path in ``ATTUNE_CONFIG``) < ``ATTUNE__SECTION__KEY``."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from attune_shared.errors import ConfigError
from attune_shared.yamlfile import YamlError, load_yaml

ENV_PREFIX = "ATTUNE__"
CONFIG_PATH_ENV = "ATTUNE_CONFIG"
PLACEHOLDER_SECRET = "changethis"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "postgresql://postgres@127.0.0.1:5432/attune"
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=10, ge=1)
    connect_timeout: float = Field(default=10.0, gt=0)
    #: how long a service waits for the database at start before giving up
    startup_wait: float = Field(default=30.0, ge=0)
    migrations_dir: Path | None = None

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not re.match(r"^postgres(ql)?://", value):
            raise ValueError("must be a postgresql:// URL")
        return value


class NatsSettings(Section):
    url: str = "nats://127.0.0.1:4222"
    #: subject prefix; stream names are derived from it (``attune`` -> ``ATTUNE_WORK``)
    prefix: str = "attune"
    #: stream and KV replicas (3 on a JetStream cluster)
    replicas: int = Field(default=1, ge=1, le=5)
    connect_timeout: float = Field(default=5.0, gt=0)
    #: JetStream publish acknowledgement timeout, in seconds
    publish_timeout: float = Field(default=5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        for server in value.split(","):
            if not re.match(r"^(nats|tls|ws|wss)://[^\s]+$", server.strip()):
                raise ValueError("must be a nats:// URL (several separated by commas)")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_token(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", value):
            raise ValueError(
                "must be one lowercase NATS subject token: [a-z][a-z0-9_-]*, at most 32 characters"
            )
        return value


class TimescaleSettings(Section):
    #: refuse to start (and to migrate) when the TimescaleDB extension is missing
    required: bool = False


class SecuritySettings(Section):
    #: signs bearer tokens and encrypts secrets at rest; the placeholder is refused outside development
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    #: the secret_key before the last rotation: tokens it signed are accepted until they expire,
    #: values it encrypted stay readable (new ones use secret_key)
    previous_secret_key: SecretStr | None = None

    @field_validator("previous_secret_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class SensorSettings(Section):
    #: messages fetched and inserted per round trip
    batch_size: int = Field(default=256, ge=1, le=10_000)
    #: a trigger payload larger than this goes to the dead-letter queue
    max_payload_bytes: int = Field(default=1024 * 1024, ge=1)
    #: the timer leader holds its lease this long without renewing
    timer_lease_ttl: float = Field(default=10.0, gt=0)
    #: seconds a trigger row (and its compiled payload schema) is cached: a new, changed or
    #: disabled trigger takes effect within this time
    trigger_cache_ttl: float = Field(default=5.0, ge=0)
    #: seconds between full reconciliations of the timers with the rules in the database
    timer_reconcile_interval: float = Field(default=30.0, gt=0)
    #: Prometheus metrics port (0 = off)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: address the metrics endpoint binds (0.0.0.0 in a container scraped from outside)
    metrics_host: str = "127.0.0.1"
    #: seconds between reloads of the pack sensors from the database (enable, disable, new, removed)
    sensors_reconcile_interval: float = Field(default=5.0, gt=0)
    #: longest pause before a crashed pack sensor is started again (the pause doubles from 1 s)
    sensor_restart_max_delay: float = Field(default=60.0, gt=0)
    #: seconds a pack sensor gets to run its cleanup after SIGTERM before it is killed
    sensor_stop_grace: float = Field(default=5.0, ge=0)


def expand_home(path: Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded.

    :raises ValueError: ``~user`` names no user of this machine (pathlib raises RuntimeError).
    """
    try:
        return path.expanduser()
    except RuntimeError:
        raise ValueError(f"{path.parts[0][:100]} names no user of this machine") from None


class PacksSettings(Section):
    """Where installed packs, their virtual environments and StackStorm pack configs live. Every
    service must see the same directory (a shared volume in containers)."""

    #: packs under ``<home>/packs/<ref>``, virtual environments under ``<home>/virtualenvs/<ref>``,
    #: StackStorm configs under ``<home>/configs/<ref>.yaml``
    home: Path = Field(default=Path("~/.attune"), validate_default=True)  # expanded: not ./~/.attune
    #: directories a local install source (a directory, a ``.tar.gz``, a git repository by path or
    #: ``file://``) must be inside; unset: anywhere this process can read. Set it on an API that
    #: others reach (docs/security.md).
    local_sources: list[Path] | None = None

    @field_validator("home")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return expand_home(value)

    @field_validator("local_sources")
    @classmethod
    def _expand_all(cls, value: list[Path] | None) -> list[Path] | None:
        return None if value is None else [expand_home(path).resolve() for path in value]

    @property
    def packs_dir(self) -> Path:
        return self.home / "packs"

    @property
    def virtualenvs_dir(self) -> Path:
        return self.home / "virtualenvs"

    @property
    def configs_dir(self) -> Path:
        return self.home / "configs"

    def python_of(self, pack_ref: str) -> Path | None:
        """The interpreter of a pack's own virtual environment, when it has one."""
        python = self.virtualenvs_dir / pack_ref / "bin" / "python"
        return python if python.exists() else None


class ExecutorSettings(Section):
    #: worker name; unique per replica (default: host-pid)
    name: str = ""
    #: actions run at once by this replica. As StackStorm's action runner (60): a slot also spans
    #: the start's round trips, so at 16 short actions left a replica's slots waiting on them
    #: (BENCHMARKS.md, the fourth round of issue 18)
    concurrency: int = Field(default=64, ge=1, le=1024)
    heartbeat_interval: float = Field(default=5.0, gt=0)
    #: a worker without a heartbeat for this long is dead
    worker_timeout: float = Field(default=30.0, gt=0)
    #: a `scheduled` execution not started within this many seconds fails
    scheduled_timeout: float = Field(default=300.0, gt=0)
    #: action timeout when neither the request nor the action sets one
    default_timeout: int = Field(default=600, ge=1)
    #: seconds between SIGTERM and SIGKILL when cancelling or timing out an action
    kill_grace: float = Field(default=5.0, ge=0)
    #: cap on captured stdout / stderr, in bytes each
    max_output_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: base of the exponential retry backoff, in seconds
    retry_backoff: float = Field(default=1.0, ge=0)
    #: longest wait before a retry, in seconds (the backoff stops doubling there)
    retry_backoff_max: float = Field(default=300.0, ge=0)
    #: how often the reconciler and monitors run, in seconds
    maintenance_interval: float = Field(default=5.0, gt=0)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: address the metrics endpoint binds (0.0.0.0 in a container scraped from outside)
    metrics_host: str = "127.0.0.1"
    #: a `requested` execution or `created` enforcement untouched this long has lost its message
    reconcile_after: float = Field(default=10.0, gt=0)
    #: actions, policies and pack configs are re-read after this many seconds (rules on rule.changed too)
    cache_ttl: float = Field(default=10.0, gt=0)
    #: on SIGTERM, running actions get this long to finish before they are killed and abandoned
    shutdown_grace: float = Field(default=20.0, ge=0)
    #: how often this replica re-checks its running executions for `canceling`, in seconds
    cancel_check_interval: float = Field(default=2.0, gt=0)
    #: how often the plain-PostgreSQL retention job runs (TimescaleDB has its own policies)
    retention_interval: float = Field(default=3600.0, gt=0)
    #: interpreter of `python` actions, and of StackStorm python-script actions of a pack without a
    #: virtual environment of its own (default: the executor's own)
    python: str = ""
    #: let StackStorm shell actions run with `sudo: true` (the executor's user needs passwordless sudo)
    allow_sudo: bool = False
    #: the only variables of the executor's environment an action process inherits
    action_env: tuple[str, ...] = (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "TMPDIR",
        "USER",
        "LOGNAME",
    )

    def worker_name(self) -> str:
        """The configured name, or ``<host>-<pid>``."""
        return self.name or f"{socket.gethostname()}-{os.getpid()}"


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: turning auth off is for development only and is announced loudly at startup
    auth_enabled: bool = True
    #: request body limit for webhooks, in bytes
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    #: seconds a webhook body may take to arrive (a slow sender is cut off with 408)
    webhook_body_timeout: float = Field(default=10.0, gt=0)
    #: lifetime of bearer tokens issued in exchange for an API key, in seconds
    token_ttl: int = Field(default=3600, ge=60)
    #: lifetime of a web console session (its cookie and the token inside), in seconds
    session_ttl: int = Field(default=12 * 3600, ge=60)
    #: mark the session cookie `Secure` (always sent only over HTTPS); set it behind a TLS proxy
    session_cookie_secure: bool = False
    #: the built web console served at `/` (default: console/dist of the source tree)
    console_dir: Path | None = None
    cors_origins: list[str] = Field(default_factory=list)
    #: serve /docs, /redoc and /openapi.json without authentication (`attune up` does)
    docs_public: bool = False
    #: serve /metrics without authentication (for scrapers that cannot send a bearer token)
    metrics_public: bool = False
    #: seconds between SSE keep-alive comments on idle streams
    sse_ping_seconds: float = Field(default=15.0, gt=0)
    #: messages buffered per SSE client; a client that falls this far behind is dropped
    sse_queue_size: int = Field(default=1000, ge=1)
    #: a stream whose client does not accept a write within this many seconds is closed
    sse_send_timeout: float = Field(default=30.0, gt=0)
    #: most status changes replayed on a `Last-Event-ID` reconnect
    sse_replay_max: int = Field(default=10_000, ge=0)
    #: the API's URL as actions and workflows reach it (`ctx().st2.api_url`); default from host and port
    public_url: str = ""
    #: failed authentications from one address within `auth_failure_window` seconds before every
    #: further attempt from it is refused (429) until the oldest failure leaves the window
    auth_failure_limit: int = Field(default=20, ge=1)
    auth_failure_window: float = Field(default=300.0, gt=0)

    def base_url(self) -> str:
        """``public_url``, or ``http://<host>:<port>/api/v1``."""
        return self.public_url or f"http://{self.host}:{self.port}/api/v1"


class RetentionSettings(Section):
    """Row lifetimes (days) for PostgreSQL without TimescaleDB; TimescaleDB uses its own policies."""

    event_days: int = Field(default=90, ge=1)
    enforcement_days: int = Field(default=90, ge=1)
    execution_days: int = Field(default=90, ge=1)
    execution_history_days: int = Field(default=90, ge=1)
    worker_history_days: int = Field(default=180, ge=1)
    audit_days: int = Field(default=365, ge=1)
    batch_size: int = Field(default=5000, ge=1)


class Settings(BaseSettings):
    """All configuration, one section per concern. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    database: DatabaseSettings = DatabaseSettings()
    nats: NatsSettings = NatsSettings()
    timescale: TimescaleSettings = TimescaleSettings()
    security: SecuritySettings = SecuritySettings()
    log: LogSettings = LogSettings()
    sensor: SensorSettings = SensorSettings()
    executor: ExecutorSettings = ExecutorSettings()
    api: ApiSettings = ApiSettings()
    retention: RetentionSettings = RetentionSettings()
    packs: PacksSettings = PacksSettings()

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> Settings:
        if (
            self.environment != "development"
            and self.security.secret_key.get_secret_value() == PLACEHOLDER_SECRET
        ):
            raise ValueError(
                f"security.secret_key is the placeholder {PLACEHOLDER_SECRET!r}, refused in "
                f"{self.environment}: set ATTUNE__SECURITY__SECRET_KEY"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get(CONFIG_PATH_ENV)
        if not path:
            return init_settings, env_settings
        return init_settings, env_settings, _ConfigFile(settings_cls, Path(path))


class _ConfigFile(YamlConfigSettingsSource):
    """The file ``ATTUNE_CONFIG`` names, through pydantic-settings' YAML source, read by
    :func:`attune_shared.yamlfile.load_yaml` (YAML 1.2, as pack files) and refused in one line when
    it is missing or bad."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        if not path.is_file():  # the library would skip a missing file silently
            raise ConfigError(f"{CONFIG_PATH_ENV}={path}: cannot read the file: no such file")
        super().__init__(settings_cls, yaml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = load_yaml(file_path)
        except YamlError as exc:
            raise ConfigError(f"{CONFIG_PATH_ENV}={file_path}: {exc.detail}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"{CONFIG_PATH_ENV}={file_path}: the top level must be a mapping of sections")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise :class:`ConfigError` with one line naming the bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    if not loc:
        return f"invalid configuration: {error['msg'].removeprefix('Value error, ')}"
    dotted = ".".join(loc)
    env_name = ENV_PREFIX + "__".join(part.upper() for part in loc)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    where = f"{dotted} ({env_name})"
    value = error.get("input")
    shown = "" if error["type"] == "extra_forbidden" or isinstance(value, dict) else f" = {value!r}"
    if "secret" in dotted:
        shown = ""
    return f"invalid setting {where}{shown}: {message}"
