"""Loading leadscore.toml: typed connections, errors that name the file and key, secrets read
per flow from the environment or .env."""

from __future__ import annotations

import textwrap

import pytest

from connector.config import load_config
from connector.errors import ConfigError, CredentialsError

GOOD = """
    state_url = "sqlite:///state.db"

    [connections.sf]
    crm = "salesforce"
    mapping = "mappings/salesforce-lead.yaml"
    auth = "jwt"
    login_host = "test.salesforce.com"
    [connections.sf.env]
    consumer_key = "SF_KEY"

    [connections.hs]
    crm = "hubspot"
    mapping = "mappings/hubspot-contact.yaml"
    auth = "private_app"
    api_reserve = 0.1
    [connections.hs.schedule]
    sync_every_minutes = 30
"""


def write(tmp_path, text: str, name: str = "leadscore.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_file_loads_typed_with_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    sf, hs = config.connection("sf"), config.connection("hs")
    assert (sf.object, hs.object) == ("Lead", "contacts")
    assert sf.mapping == tmp_path / "mappings/salesforce-lead.yaml"  # relative to the file
    assert config.state_url == f"sqlite:///{(tmp_path / 'state.db').resolve()}"
    assert sf.resolved_token_url == "https://test.salesforce.com/services/oauth2/token"
    assert sf.resolved_jwt_audience == "https://test.salesforce.com"
    assert (sf.api_reserve, hs.api_reserve) == (0.2, 0.1)
    assert (hs.schedule.sync_every_minutes, hs.schedule.new_leads_every_minutes,
            hs.schedule.retrain_every_days) == (30, 2, 7)
    assert (hs.schedule.sync_cron, hs.schedule.retrain_cron, hs.schedule.timezone) == (
        None, None, "UTC")
    assert sf.env_name("consumer_key") == "SF_KEY"
    assert sf.env_name("username") == "SALESFORCE_USERNAME"


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:////var/lib/ls.db",
                                 "postgresql+psycopg://ls@db/ls"])
def test_absolute_and_server_state_urls_are_kept(tmp_path, url):
    config = load_config(write(tmp_path, GOOD.replace('"sqlite:///state.db"', f'"{url}"')))
    assert config.state_url == url


def test_the_path_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD, "elsewhere.toml")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(path))
    assert load_config().path == path
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADSCORE_CONFIG")
    with pytest.raises(ConfigError, match="leadscore.toml: config file not found"):
        load_config()


def test_environment_overrides_file_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_CONNECTIONS__HS__API_RESERVE", "0.35")
    assert load_config(write(tmp_path, GOOD)).connection("hs").api_reserve == 0.35


@pytest.mark.parametrize("change, where", [
    (('crm = "hubspot"', 'crm = "pipedrive"'), "connections.hs.crm"),
    (("api_reserve = 0.1", "api_reserve = 1.5"), "connections.hs.api_reserve"),
    (('auth = "jwt"', 'auth = "private_app"'), "connections.sf: Value error, auth 'private_app'"),
    (('consumer_key = "SF_KEY"', 'access_token = "X"'), "the jwt flow does not use"),
    (("sync_every_minutes = 30", "sync_every_mins = 30"),
     "connections.hs.schedule.sync_every_mins"),
    (("sync_every_minutes = 30", 'sync_every_minutes = 30\nsync_cron = "15 * * * *"'),
     "connections.hs.schedule: Value error, set sync_every_minutes or sync_cron, not both"),
    (("sync_every_minutes = 30", 'retrain_cron = "0 3 * * 9"'),
     "connections.hs.schedule: Value error, retrain_cron: '9' in day-of-week '9' is not a"),
    (("sync_every_minutes = 30", 'timezone = "Paris"'),
     "connections.hs.schedule: Value error, timezone: unknown time zone 'Paris'"),
    (('api_reserve = 0.1', 'api_reserve = 0.1\nbase_url = "http://api.hubapi.com"'),
     "connections.hs.base_url: Value error, 'http://api.hubapi.com' would send credentials "
     "unencrypted; use https://"),
    (('login_host = "test.salesforce.com"', 'token_url = "http://my.example.com/token"'),
     "connections.sf.token_url: Value error, 'http://my.example.com/token' would send"),
    (('api_reserve = 0.1', 'api_reserve = 0.1\nbase_url = "ftp://api.hubapi.com"'),
     "connections.hs.base_url: Value error, 'ftp://api.hubapi.com' is not an https:// URL"),
])
def test_errors_name_the_file_and_the_key(tmp_path, change, where):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: ") and where in str(raised.value)


def test_crontab_schedules_load(tmp_path):
    text = GOOD.replace("sync_every_minutes = 30", 'sync_cron = "15 7-19 * * mon-fri"\n'
                        'retrain_cron = "0 3 * * 0"\ntimezone = "America/New_York"')
    schedule = load_config(write(tmp_path, text)).connection("hs").schedule
    assert (schedule.sync_cron, schedule.retrain_cron, schedule.timezone) == (
        "15 7-19 * * mon-fri", "0 3 * * 0", "America/New_York")


def test_broken_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[connections.sf\ncrm = 1\n")
    with pytest.raises(ConfigError, match=r"leadscore.toml: not valid TOML: .*line 1"):
        load_config(path)


def test_an_unknown_connection_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"no connection 'prod' \(configured: hs, sf\)"):
        load_config(write(tmp_path, GOOD)).connection("prod")


def test_missing_secrets_name_every_variable_and_the_flow(tmp_path):
    sf = load_config(write(tmp_path, GOOD)).connection("sf")
    with pytest.raises(CredentialsError) as raised:
        sf.credentials({"SALESFORCE_USERNAME": "me"})
    assert str(raised.value) == ("connection 'sf' (salesforce jwt flow): environment variables "
                                 "SF_KEY, SALESFORCE_PRIVATE_KEY_FILE not set")


def test_secrets_come_from_dotenv_and_never_print(tmp_path, monkeypatch):
    write(tmp_path, GOOD)
    (tmp_path / ".env").write_text("HUBSPOT_ACCESS_TOKEN=pat-secret\n")
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    credentials = load_config(tmp_path / "leadscore.toml").connection("hs").credentials()
    assert credentials.secret("access_token") == "pat-secret"
    assert "pat-secret" not in repr(credentials) and "pat-secret" not in str(credentials)


def test_a_missing_ca_file_is_a_config_error_naming_it(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    connection = config.connection("sf").model_copy(update={"ca_file": tmp_path / "nope.pem"})
    with pytest.raises(ConfigError, match="nope.pem does not exist"):
        connection.ca_bundle()
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert connection.model_copy(update={"ca_file": tmp_path / "ca.pem"}).ca_bundle() == str(
        tmp_path / "ca.pem")
    assert config.connection("hs").ca_bundle() is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8444", "http://localhost:8444",
                                 "http://[::1]:8444", "https://api.hubapi.com"])
def test_plain_http_is_accepted_only_on_this_machine(tmp_path, url):
    text = GOOD.replace("api_reserve = 0.1", f'api_reserve = 0.1\nbase_url = "{url}"')
    path = write(tmp_path, text)
    assert load_config(path).connection("hs").base_url == url
