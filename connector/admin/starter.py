"""The files a new leadscore project starts from: a commented config, the example mappings,
and (for the local sandbox) a ``.env`` with its default credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from connector.errors import ConfigError
from connector.sandbox import CRMS, FACTS_FILE, HUBSPOT_DEFAULTS, SALESFORCE_DEFAULTS, SANDBOX_DIR

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

SANDBOX_HEAD = HEADER + """
# The connections below point at {where}.
"""
SANDBOX_SALESFORCE = """
[connections.salesforce]
crm = "salesforce"
mapping = "{mapping}"
auth = "password"
token_url = "https://127.0.0.1:{port}/services/oauth2/token"
ca_file = "{ca_file}"
api_reserve = 0.2
"""
SANDBOX_HUBSPOT = """
[connections.hubspot]
crm = "hubspot"
mapping = "{mapping}"
auth = "private_app"
base_url = "{scheme}://127.0.0.1:{port}"{ca_line}
api_reserve = 0.2
"""
DEMO_MAPPINGS = {"salesforce": "mappings/bank-demo-salesforce.yaml",
                 "hubspot": "mappings/bank-demo-hubspot.yaml"}
SUGGESTED_MAPPINGS = {crm: f"mappings/suggested-{crm}.yaml" for crm in CRMS}
"""Where `leadscore mappings suggest --connection NAME` writes by default: a sandbox seeded
with the admin's own CSV starts from there instead of the bank demo's mappings."""


@dataclass(frozen=True)
class SandboxTarget:
    """How to reach a sandbox: its ports, CA file, HubSpot scheme and which mappings fit it."""

    ports: dict[str, int]  # CRM -> port, only the CRMs it serves
    ca_file: str = f"{SANDBOX_DIR}/tls/sandbox-ca.pem"
    hubspot_tls: bool = False
    mappings: dict[str, str] = field(default_factory=lambda: dict(DEMO_MAPPINGS))
    facts_file: Path | None = None  # the running sandbox's facts this was read from

    @property
    def suggest_first(self) -> bool:
        """Seeded with a CSV: the admin's first step is `mappings suggest`."""
        return self.mappings == SUGGESTED_MAPPINGS


def sandbox_config(sf_port: int, hs_port: int, *, hubspot_tls: bool = False) -> str:
    """The text of a config whose two connections reach a sandbox on those ports (HubSpot over
    TLS with the sandbox's CA when it was started with ``--hubspot-tls``)."""
    return target_config(SandboxTarget({"salesforce": sf_port, "hubspot": hs_port},
                                       hubspot_tls=hubspot_tls))


def target_config(target: SandboxTarget) -> str:
    """The text of a config with one connection per CRM the sandbox ``target`` serves."""
    where = (f"the running sandbox described in {target.facts_file}" if target.facts_file else
             f"`leadscore sandbox --port {target.ports.get('salesforce', 0)}"
             f"{' --hubspot-tls' if target.hubspot_tls else ''}` run from this folder")
    text = SANDBOX_HEAD.format(where=where)
    if "salesforce" in target.ports:
        text += SANDBOX_SALESFORCE.format(mapping=target.mappings["salesforce"],
                                          port=target.ports["salesforce"], ca_file=target.ca_file)
    if "hubspot" in target.ports:
        text += SANDBOX_HUBSPOT.format(
            mapping=target.mappings["hubspot"], port=target.ports["hubspot"],
            scheme="https" if target.hubspot_tls else "http",
            ca_line=f'\nca_file = "{target.ca_file}"' if target.hubspot_tls else "")
    return text


def read_sandbox(sandbox_dir: Path) -> SandboxTarget | None:
    """The running sandbox whose facts are in ``sandbox_dir``, or None when none runs there."""
    path = sandbox_dir / FACTS_FILE
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read the sandbox's facts ({error})",
                          "Restart `leadscore sandbox`; it writes the file again.") from None
    try:
        ports = {crm: urlsplit(facts[crm]["instance_url" if crm == "salesforce" else "base_url"]
                               ).port for crm in CRMS if crm in facts}
        ca_file = next((facts[crm]["ca_file"] for crm in CRMS
                        if facts.get(crm, {}).get("ca_file")), f"{SANDBOX_DIR}/tls/sandbox-ca.pem")
        hubspot_tls = facts.get("hubspot", {}).get("base_url", "").startswith("https://")
        csv_seed = facts.get("seed", {}).get("kind") == "csv"
    except (KeyError, TypeError, AttributeError):
        raise ConfigError(f"{path}: not a leadscore sandbox facts file",
                          "Restart `leadscore sandbox`; it writes the file again.") from None
    return SandboxTarget(ports, ca_file=ca_file, hubspot_tls=hubspot_tls,
                         mappings=dict(SUGGESTED_MAPPINGS if csv_seed else DEMO_MAPPINGS),
                         facts_file=path)


def sandbox_env() -> str:
    """The ``.env`` lines holding the sandbox's default credentials."""
    sf = SALESFORCE_DEFAULTS
    return (f"SALESFORCE_CONSUMER_KEY={sf['consumer_key']}\n"
            f"SALESFORCE_CONSUMER_SECRET={sf['consumer_secret']}\n"
            f"SALESFORCE_USERNAME={sf['username']}\n"
            f"SALESFORCE_PASSWORD={sf['password']}\n"
            f"SALESFORCE_SECURITY_TOKEN={sf['security_token']}\n"
            f"HUBSPOT_ACCESS_TOKEN={HUBSPOT_DEFAULTS['access_token']}\n")


def write_project(directory: Path, *, sandbox: SandboxTarget | None, force: bool) -> list[Path]:
    """Write ``leadscore.toml``, the example mappings and (``sandbox``) ``.env`` into
    ``directory``.

    Refuses to overwrite existing files unless ``force``; returns the paths written.
    """
    config = directory / "leadscore.toml"
    env = directory / ".env"
    targets = [config] + ([env] if sandbox is not None else [])
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} already exists; not overwriting it",
                          "Pass --force to replace it, or run init in another folder.")
    directory.mkdir(parents=True, exist_ok=True)
    if sandbox is None:
        config.write_text(PRODUCTION, encoding="utf-8")
    else:
        config.write_text(target_config(sandbox), encoding="utf-8")
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
