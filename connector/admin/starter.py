"""The files a new leadscore project starts from: a commented config, the example mappings,
and (for the local sandbox) a ``.env`` with its default credentials."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from connector.errors import ConfigError
from connector.sandbox import HUBSPOT_DEFAULTS, SALESFORCE_DEFAULTS, SANDBOX_DIR

HEADER = """\
# leadscore configuration: one [connections.NAME] table per Salesforce org or HubSpot portal.
# Secrets never go in this file: each connection names the environment variables that hold
# them (set them, or put them in a .env file beside this one). Check everything with
#   leadscore check --connection NAME

# Where sync state lives: a SQLite file by default, or PostgreSQL for several workers,
# e.g. "postgresql+psycopg://leadscore@db.internal/leadscore".
state_url = "sqlite:///leadscore-state.db"
# Where trained models (one versioned folder per connection) are kept.
model_dir = "models"
"""

PRODUCTION = HEADER + """
[connections.salesforce]
crm = "salesforce"
mapping = "mappings/salesforce-lead.yaml"
# password | client_credentials | jwt (recommended for servers: no password to rotate)
auth = "jwt"
# login.salesforce.com, test.salesforce.com for a sandbox org, or your My Domain host
login_host = "login.salesforce.com"
# Stop a run before the org's daily API allowance falls below this share (others need it too).
api_reserve = 0.2
# A pilot (README: Running a pilot): hold back a control group that is scored but never
# written, and post each callback task to a chat webhook whose URL is in the named variable.
# control = {share = 0.2, salt = "pick-a-secret-salt"}
# webhook = {url_env = "LEADSCORE_HOT_WEBHOOK"}

[connections.salesforce.env]
# Names of the variables holding this connection's secrets (these are the defaults).
consumer_key = "SALESFORCE_CONSUMER_KEY"
username = "SALESFORCE_USERNAME"
private_key_file = "SALESFORCE_PRIVATE_KEY_FILE"

[connections.salesforce.schedule]
sync_every_minutes = 60        # the full incremental sync
new_leads_every_minutes = 2    # score brand-new leads within minutes
retrain_every_days = 7         # champion/challenger retraining
# Or fixed times, as standard crontab lines (0 and 7 are Sunday) read in `timezone`; a job
# takes an interval or a crontab, not both:
# sync_cron = "15 7-19 * * 1-5"    # at quarter past each office hour, Monday to Friday
# retrain_cron = "0 3 * * 0"       # Sundays at 03:00
# timezone = "Europe/Paris"        # default UTC

[connections.hubspot]
crm = "hubspot"
mapping = "mappings/hubspot-contact.yaml"
auth = "private_app"
api_reserve = 0.2

[connections.hubspot.env]
access_token = "HUBSPOT_ACCESS_TOKEN"
"""

SANDBOX = HEADER + """
# Both connections point at `leadscore sandbox --port {sf_port}{hs_flag}` run from this folder
# (Salesforce on {sf_port} over TLS with the sandbox's own CA, HubSpot on {hs_port}).

[connections.salesforce]
crm = "salesforce"
mapping = "mappings/bank-demo-salesforce.yaml"
auth = "password"
token_url = "https://127.0.0.1:{sf_port}/services/oauth2/token"
ca_file = "{sandbox_dir}/tls/sandbox-ca.pem"
api_reserve = 0.2

[connections.hubspot]
crm = "hubspot"
mapping = "mappings/bank-demo-hubspot.yaml"
auth = "private_app"
base_url = "{hs_scheme}://127.0.0.1:{hs_port}"{hs_ca}
api_reserve = 0.2
"""


def sandbox_config(sf_port: int, hs_port: int, *, hubspot_tls: bool = False) -> str:
    """The text of a config whose two connections reach a sandbox on those ports (HubSpot over
    TLS with the sandbox's CA when it was started with ``--hubspot-tls``)."""
    return SANDBOX.format(
        sf_port=sf_port, hs_port=hs_port, sandbox_dir=SANDBOX_DIR,
        hs_flag=" --hubspot-tls" if hubspot_tls else "",
        hs_scheme="https" if hubspot_tls else "http",
        hs_ca=f'\nca_file = "{SANDBOX_DIR}/tls/sandbox-ca.pem"' if hubspot_tls else "")


def sandbox_env() -> str:
    """The ``.env`` lines holding the sandbox's default credentials."""
    sf = SALESFORCE_DEFAULTS
    return (f"SALESFORCE_CONSUMER_KEY={sf['consumer_key']}\n"
            f"SALESFORCE_CONSUMER_SECRET={sf['consumer_secret']}\n"
            f"SALESFORCE_USERNAME={sf['username']}\n"
            f"SALESFORCE_PASSWORD={sf['password']}\n"
            f"SALESFORCE_SECURITY_TOKEN={sf['security_token']}\n"
            f"HUBSPOT_ACCESS_TOKEN={HUBSPOT_DEFAULTS['access_token']}\n")


def write_project(directory: Path, *, sandbox_port: int | None, force: bool,
                  hubspot_tls: bool = False) -> list[Path]:
    """Write ``leadscore.toml``, the example mappings and (sandbox) ``.env`` into ``directory``.

    Refuses to overwrite existing files unless ``force``; returns the paths written.
    """
    config = directory / "leadscore.toml"
    env = directory / ".env"
    targets = [config] + ([env] if sandbox_port is not None else [])
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} already exists; not overwriting it",
                          "Pass --force to replace it, or run init in another folder.")
    directory.mkdir(parents=True, exist_ok=True)
    if sandbox_port is None:
        config.write_text(PRODUCTION, encoding="utf-8")
    else:
        config.write_text(sandbox_config(sandbox_port, sandbox_port + 1,
                                         hubspot_tls=hubspot_tls), encoding="utf-8")
        env.write_text(sandbox_env(), encoding="utf-8")
        env.chmod(0o600)
    written = list(targets)
    mappings = directory / "mappings"
    mappings.mkdir(exist_ok=True)
    for example in sorted(resources.files("connector.example_mappings").iterdir()):
        target = mappings / example.name
        if example.name.endswith(".yaml") and (force or not target.exists()):
            target.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
            written.append(target)
    return written
