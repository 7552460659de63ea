"""The connections config: ``leadscore.toml``, validated once, secrets kept out of it.

Where the file is: ``--config PATH``, else ``$LEADSCORE_CONFIG``, else ``./leadscore.toml``.
One ``[connections.NAME]`` table per org or portal::

    state_url = "sqlite:///leadscore-state.db"

    [connections.sf-prod]
    crm = "salesforce"
    mapping = "mappings/salesforce-lead.yaml"
    auth = "jwt"                          # password | client_credentials | jwt
    login_host = "login.salesforce.com"   # or test.salesforce.com, a My Domain, or token_url = ...
    [connections.sf-prod.env]             # names of the variables holding the secrets
    consumer_key = "SF_PROD_CONSUMER_KEY"

    [connections.hs]
    crm = "hubspot"
    mapping = "mappings/hubspot-contact.yaml"
    auth = "private_app"

Secret values never live in the file: each flow reads them from environment variables (or a
``.env`` file beside the config), whose names default to :data:`DEFAULT_ENV` and can be renamed
per connection under ``[connections.NAME.env]``. ``LEADSCORE_*`` variables override file keys
from the environment (``LEADSCORE_STATE_URL``, ``LEADSCORE_CONNECTIONS__HS__API_RESERVE``...).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.cron import crontab_trigger, time_zone
from connector.errors import ConfigError, CredentialsError

CONFIG_ENV = "LEADSCORE_CONFIG"
DEFAULT_PATH = Path("leadscore.toml")

FLOWS: dict[str, tuple[str, ...]] = {
    "salesforce": ("password", "client_credentials", "jwt"),
    "hubspot": ("private_app",),
}
"""The auth flows each CRM supports; the first is not a default, ``auth`` must be given."""

SECRETS: dict[str, tuple[str, ...]] = {
    "password": ("consumer_key", "consumer_secret", "username", "password", "security_token"),
    "client_credentials": ("consumer_key", "consumer_secret"),
    "jwt": ("consumer_key", "username", "private_key_file"),
    "private_app": ("access_token",),
}
"""The secret roles each flow reads from the environment."""

DEFAULT_ENV: dict[str, dict[str, str]] = {
    "salesforce": {role: f"SALESFORCE_{role.upper()}" for role in
                   ("consumer_key", "consumer_secret", "username", "password", "security_token",
                    "private_key_file")},
    "hubspot": {"access_token": "HUBSPOT_ACCESS_TOKEN"},
}
"""Default variable name per secret role, per CRM."""

DEFAULT_OBJECT = {"salesforce": "Lead", "hubspot": "contacts"}


def _loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (where plain HTTP never leaves it)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """How often the scheduler runs each job of one connection.

    The sync and the retraining run on an interval, or on a standard crontab expression
    (``sync_cron = "15 * * * *"``, ``retrain_cron = "0 3 * * sun"``) read in ``timezone``;
    a connection sets one or the other for each job, not both.
    """

    sync_every_minutes: int = Field(60, ge=1)
    sync_cron: str | None = None
    new_leads_every_minutes: int = Field(2, ge=1)
    retrain_every_days: int = Field(7, ge=1)
    retrain_cron: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_rule_per_job(self) -> Schedule:
        try:
            time_zone(self.timezone)
        except ValueError as error:
            raise ValueError(f"timezone: {error}") from None
        for job, interval in (("sync", "sync_every_minutes"), ("retrain", "retrain_every_days")):
            cron = getattr(self, f"{job}_cron")
            if cron is None:
                continue
            if interval in self.model_fields_set:
                raise ValueError(f"set {interval} or {job}_cron, not both")
            try:
                crontab_trigger(cron, self.timezone)
            except ValueError as error:
                raise ValueError(f"{job}_cron: {error}") from None
        return self


class ControlGroup(_Strict):
    """A hashed control group: ``share`` of the leads are scored but never written to the CRM.

    A lead is in the control group when the first 8 bytes of ``sha256(salt + ":" + lead id)``,
    read as a big-endian unsigned integer and divided by 2**64, are below ``share``: the same
    answer on every run and every machine (see :func:`connector.sync.pilot.in_control`).
    ``share = 0`` switches the group off (its leads are written at the next sync).
    """

    share: float = Field(0.2, ge=0.0, le=0.5)
    salt: str = Field(min_length=8, max_length=200)


class Webhook(_Strict):
    """A JSON POST for every callback task (e.g. a chat's incoming webhook). The URL is a secret
    (it carries its own token), so the config names the environment variable that holds it."""

    url_env: str = Field(min_length=1)
    max_attempts: int = Field(5, ge=1, le=50)
    timeout_seconds: float = Field(10.0, gt=0.0, le=120.0)


class ConnectionConfig(_Strict):
    """One org or portal: which CRM, how to reach and authenticate, how hard to use its API."""

    name: str = ""
    crm: Literal["salesforce", "hubspot"]
    mapping: Path
    auth: Literal["password", "client_credentials", "jwt", "private_app"]
    object: str = ""
    env: dict[str, str] = Field(default_factory=dict)
    login_host: str = "login.salesforce.com"
    token_url: str | None = None
    jwt_audience: str | None = None
    api_version: str = "59.0"
    base_url: str = "https://api.hubapi.com"
    ca_file: Path | None = None
    api_reserve: float = Field(0.2, ge=0.0, lt=1.0)
    overlap_minutes: float = Field(5.0, ge=0.0)
    timeout_seconds: float = Field(60.0, gt=0.0)
    rate_limit_per_10s: int | None = Field(None, ge=1)
    # Audit rows, runs and removal rows older than this are pruned by the daily maintenance
    # job; None keeps them forever.
    retention_days: int | None = Field(365, ge=1)
    # Salesforce Bulk API 2.0 (0 switches it off): full pulls of at least bulk_query_threshold
    # records and write sets of at least bulk_write_threshold go through Bulk jobs. A query
    # job's results are downloaded in result sets of bulk_result_records (maxRecords: fewer,
    # larger sets cost fewer calls) and streamed into sync pages of bulk_page_records (what
    # the engine holds in memory at once, and the largest write set of one ingest job).
    bulk_query_threshold: int = Field(10_000, ge=0)
    bulk_write_threshold: int = Field(5_000, ge=0)
    bulk_page_records: int = Field(50_000, ge=1_000)
    bulk_result_records: int = Field(1_000_000, ge=1_000)
    schedule: Schedule = Field(default_factory=Schedule)
    control: ControlGroup | None = None
    webhook: Webhook | None = None

    @field_validator("base_url", "token_url")
    @classmethod
    def _encrypted(cls, url: str | None) -> str | None:
        # A typo (http:// for https://) would send the token or password in clear.
        if url is None:
            return url
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and _loopback(parts.hostname):
            return url
        if parts.scheme == "http":
            raise ValueError(f"{url!r} would send credentials unencrypted; use https:// "
                             f"(plain http:// is accepted only for 127.0.0.1 or localhost)")
        raise ValueError(f"{url!r} is not an https:// URL")

    @model_validator(mode="after")
    def _consistent(self) -> ConnectionConfig:
        if self.auth not in FLOWS[self.crm]:
            raise ValueError(f"auth {self.auth!r} is not a {self.crm} flow; "
                             f"use one of {', '.join(FLOWS[self.crm])}")
        unknown = sorted(set(self.env) - set(SECRETS[self.auth]))
        if unknown:
            raise ValueError(f"env has {', '.join(unknown)}, which the {self.auth} flow does "
                             f"not use (it reads {', '.join(SECRETS[self.auth])})")
        if not self.object:
            object.__setattr__(self, "object", DEFAULT_OBJECT[self.crm])
        return self

    @property
    def resolved_token_url(self) -> str:
        """The OAuth token endpoint: ``token_url`` if set, else the login host's."""
        return self.token_url or f"https://{self.login_host}/services/oauth2/token"

    @property
    def resolved_jwt_audience(self) -> str:
        """The JWT ``aud``: set explicitly, else login or test.salesforce.com per the host."""
        if self.jwt_audience:
            return self.jwt_audience
        sandbox_org = self.login_host.startswith("test.") or ".sandbox." in self.login_host
        return "https://test.salesforce.com" if sandbox_org else "https://login.salesforce.com"

    def ca_bundle(self) -> str | None:
        """``ca_file`` as a path string for the HTTP clients, or None for the system store.

        Raises :class:`ConfigError` when the file is missing, e.g. a sandbox config used before
        `leadscore sandbox` has created its CA.
        """
        if self.ca_file is None:
            return None
        if not Path(self.ca_file).is_file():
            raise ConfigError(f"connection {self.name!r}: ca_file {self.ca_file} does not exist",
                              hint="Point ca_file at the CA certificate (PEM); for the sandbox, "
                                   "start `leadscore sandbox` from the config's folder first.")
        return str(self.ca_file)

    def env_name(self, role: str) -> str:
        """The environment variable that holds secret ``role`` for this connection."""
        return self.env.get(role) or DEFAULT_ENV[self.crm][role]

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read this connection's secrets for its flow from ``environ`` (default: the process
        environment over the ``.env`` file found at load).

        Raises :class:`CredentialsError` naming every missing variable and the flow.
        """
        source = environ if environ is not None else _environment()
        roles = SECRETS[self.auth]
        missing = [self.env_name(role) for role in roles if self.env_name(role) not in source]
        if missing:
            raise CredentialsError(
                f"connection {self.name!r} ({self.crm} {self.auth} flow): environment variable"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} not set")
        values = {role: source[self.env_name(role)] for role in roles}
        if "private_key_file" in values and not Path(values["private_key_file"]).is_file():
            raise CredentialsError(
                f"connection {self.name!r} ({self.crm} jwt flow): "
                f"{self.env_name('private_key_file')}={values['private_key_file']} is not a "
                f"readable key file")
        return Credentials(flow=self.auth, env_names={r: self.env_name(r) for r in roles},
                           **{role: SecretStr(value) for role, value in values.items()})


class Credentials(_Strict):
    """The secrets of one flow, typed so they never print (``SecretStr``).

    ``env_names`` maps each role to the variable it came from, for error messages.
    """

    flow: str
    env_names: dict[str, str]
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    private_key_file: SecretStr | None = None
    access_token: SecretStr | None = None

    def secret(self, role: str) -> str:
        """The plain value of ``role`` (only for building the request that needs it)."""
        value = getattr(self, role)
        return value.get_secret_value() if value is not None else ""

    def variables(self) -> str:
        """The variable names of this flow, for "check X, Y and Z" messages."""
        return ", ".join(self.env_names.values())


class FleetConfig(_Strict):
    """Fleet mode (``leadscore run --fleet`` and ``leadscore worker``): the Celery broker, and
    how soon a dead worker's job is picked up again (the message comes back after
    ``visibility_timeout_seconds``; the connection's lease frees after ``lease_seconds``).
    ``LEADSCORE_FLEET__BROKER_URL`` overrides the URL (it may hold a password)."""

    broker_url: str = "redis://127.0.0.1:6379/0"
    lease_seconds: float = Field(300.0, gt=0)
    visibility_timeout_seconds: int = Field(3600, ge=1)


class Config(BaseSettings):
    """The whole ``leadscore.toml``: where state and models live, and every connection."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    path: Path = Path("leadscore.toml")
    state_url: str = "sqlite:///leadscore-state.db"
    model_dir: Path = Path("models")
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    fleet: FleetConfig = Field(default_factory=FleetConfig)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init kwargs; LEADSCORE_* variables override it. The .env file is
        # read for secrets only (see ConnectionConfig.credentials), so its other keys are fine.
        return env_settings, init_settings

    def model_dir_for(self, connection: str) -> Path:
        """Where the model versions of ``connection`` live: ``<model_dir>/<connection>``."""
        return Path(self.model_dir) / connection

    def connection(self, name: str) -> ConnectionConfig:
        """The connection called ``name``; :class:`ConfigError` lists the known ones if absent."""
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none"
            raise ConfigError(f"{self.path}: no connection {name!r} (configured: {known})",
                              hint=f"Add a [connections.{name}] table or pick another name."
                              ) from None


_dotenv: dict[str, str] = {}


def _environment() -> dict[str, str]:
    return {**_dotenv, **os.environ}


def environment() -> dict[str, str]:
    """The variables secrets are read from: the process environment over the ``.env`` file
    found beside the config at load."""
    return _environment()


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file in force: ``explicit``, else ``$LEADSCORE_CONFIG``, else ./leadscore.toml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_PATH)


def _where(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_config(path: str | Path | None = None) -> Config:
    """Read, validate and return the config (see :func:`config_path` for which file).

    Relative paths in it are taken from the file's directory; a ``.env`` there is read for
    secrets. Raises :class:`ConfigError` naming the file and the
    key path of the first problem.
    """
    file = config_path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found (looked at --config, ${CONFIG_ENV}, "
                          f"./{DEFAULT_PATH})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    env_file = file.parent / ".env"
    _dotenv.clear()
    if env_file.is_file():
        _dotenv.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    for name, table in (data.get("connections") or {}).items():
        if isinstance(table, dict):
            table.setdefault("name", name)
    try:
        config = Config(path=file, **data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{file}: {_where(first['loc'])}: {first['msg']}{more}") from None
    return _resolve_paths(config, file.parent)


def _resolve_paths(config: Config, base: Path) -> Config:
    def under(path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else base / path

    connections = {
        name: conn.model_copy(update={"mapping": under(conn.mapping),
                                      "ca_file": under(conn.ca_file)})
        for name, conn in config.connections.items()}
    return config.model_copy(update={"model_dir": under(config.model_dir),
                                     "state_url": _sqlite_under(config.state_url, base),
                                     "connections": connections})


def _sqlite_under(url: str, base: Path) -> str:
    """A relative SQLite file is taken from the config's folder, like every other path in it,
    so the state does not depend on where the command was started."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or url[len(prefix):].startswith((":", "/")):
        return url
    return prefix + str((base / url[len(prefix):]).resolve())
