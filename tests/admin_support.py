"""Helpers of the check and suggest tests: small seed data, configs and mappings on a sandbox."""

from __future__ import annotations

import random
from pathlib import Path

from connector.admin.starter import sandbox_env
from connector.sandbox import Sandbox
from connector.sandbox.seeding import SeedData, load_csv


def small_seed(directory: Path, rows: int = 400) -> SeedData:
    """A bank-like CSV of ``rows`` calls: age, job, channel, a call duration that leaks the
    outcome, and a note that is different on every row (free text)."""
    rng = random.Random(7)
    lines = ["age;job;contact;duration;note;y"]
    for i in range(rows):
        converted = rng.random() < 0.3
        lines.append(f"{rng.randint(18, 80)};{rng.choice(['admin.', 'student', 'retired'])};"
                     f"{rng.choice(['cellular', 'telephone'])};"
                     f"{rng.randint(400, 900) if converted else rng.randint(5, 390)};"
                     f"call note {i} {rng.random():.6f};{'yes' if converted else 'no'}")
    path = directory / "small.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_csv(path)


SALESFORCE_MAPPING = """\
crm: salesforce
object: Lead
time_field: CreatedDate
outcome:
  converted_when:
    - {field: IsConverted, equals: true}
  lost_when:
    - {field: Status, equals: "Closed - Not Converted"}
features:
  - {field: AGE_FIELD, kind: number, label: "Age {value}"}
  - {field: Job__c, kind: category, label: "Job: {value}"}
outputs:
  score: LS_Score__c
  tier: LS_Tier__c
  reason: {field: LS_Reason__c, max_length: REASON_LENGTH}
"""


def salesforce_mapping(directory: Path, *, age_field: str = "Age__c", reason_length: int = 300,
                       name: str = "mapping.yaml", probability: str | None = None) -> Path:
    """Write a small Salesforce mapping for :func:`small_seed` data and return its path
    (with ``probability``, that output field too)."""
    path = directory / name
    text = SALESFORCE_MAPPING.replace("AGE_FIELD", age_field).replace("REASON_LENGTH",
                                                                      str(reason_length))
    if probability:
        text += f"  probability: {probability}\n"
    path.write_text(text, encoding="utf-8")
    return path


def write_config(directory: Path, sandbox: Sandbox, *, sf_mapping: str = "mapping.yaml",
                 hs_mapping: str = "mapping-hs.yaml", env: str | None = None) -> Path:
    """A leadscore.toml (and .env, default: the sandbox's credentials) reaching ``sandbox``."""
    text = 'state_url = "sqlite:///state.db"\n'
    if "salesforce" in sandbox.info:
        info = sandbox.info["salesforce"]
        text += (f'[connections.salesforce]\ncrm = "salesforce"\nmapping = "{sf_mapping}"\n'
                 f'auth = "password"\ntoken_url = "{info["token_url"]}"\n'
                 f'ca_file = "{info["ca_file"]}"\n')
    if "hubspot" in sandbox.info:
        text += (f'[connections.hubspot]\ncrm = "hubspot"\nmapping = "{hs_mapping}"\n'
                 f'auth = "private_app"\nbase_url = "{sandbox.info["hubspot"]["base_url"]}"\n')
    config = directory / "leadscore.toml"
    config.write_text(text, encoding="utf-8")
    (directory / ".env").write_text(sandbox_env() if env is None else env, encoding="utf-8")
    return config
