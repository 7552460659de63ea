"""``leadscore check`` as a library: validate one connection end to end and list typed findings.

:func:`run_check` goes stage by stage and stops at the first stage that leaves nothing to test:

1. ``config``: the config file and the connection's mapping load (their errors name file and key);
2. ``credentials``: every variable of the auth flow is set, and the CRM accepts the values;
3. ``fields``: each mapped input field exists in the live catalog and its type fits the kind;
4. ``outputs``: each output field exists, is writable and can hold what leadscore writes;
5. ``data``: a sample of records: fill rate and distinct values per feature, class balance and
   the model's leakage warnings.

Each :class:`Finding` says what, where and how to fix it. The checks of stages 3-5 are pure
functions of the mapping, the field catalog and records. Only the CLI renders the report; it
raises :class:`CheckFailedError` (exit 3) when any finding is a problem.
"""

from __future__ import annotations

from collections.abc import Mapping as EnvMapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from connector.crm import CRM, open_crm
from connector.errors import CheckFailedError, CredentialsError, FixConfigError
from connector.model.features import FeatureEncoder
from connector.admin.check_fields import Finding, input_findings, output_findings
from connector.admin.leak_check import sample_leaks
from connector.mapping import Mapping
from connector.model.train import closed_history, leakage_warnings
from connector.records import FieldCatalog
from connector.admin.sampling import SAMPLE_SIZE, Sample, data_problem, profile, sample_records
from connector.sync.workspace import open_workspace
from connector.sync.writeback import output_specs

MIN_CLOSED_FOR_LEAKAGE = 20


@dataclass
class CheckReport:
    """Everything :func:`run_check` found about one connection."""

    connection: str
    findings: list[Finding] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    outcomes: dict | None = None
    sample: str | None = None

    @property
    def problems(self) -> list[Finding]:
        """The findings that must be fixed."""
        return [f for f in self.findings if f.severity == "problem"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings worth a look that do not block a sync."""
        return [f for f in self.findings if f.severity == "warning"]

    def as_dict(self) -> dict:
        """JSON-ready form (``leadscore check --json``)."""
        return {"connection": self.connection, "ok": not self.problems,
                "problems": len(self.problems), "warnings": len(self.warnings),
                "findings": [f.as_dict() for f in self.findings], "sample": self.sample,
                "features": self.features, "outcomes": self.outcomes}

    def raise_for_problems(self) -> None:
        """Raise :class:`CheckFailedError` summarising the problems, if there are any."""
        count = len(self.problems)
        if count:
            raise CheckFailedError(f"check found {count} problem{'s' * (count > 1)} in "
                                   f"connection {self.connection!r}")


def run_check(config_path: str | Path | None, name: str, *, sample_size: int = SAMPLE_SIZE,
              environ: EnvMapping[str, str] | None = None) -> CheckReport:
    """Check connection ``name`` of the config at ``config_path`` (see the module docstring).

    ``environ`` replaces the process environment and ``.env`` (tests). Errors that are not
    about the setup (the CRM unreachable, rate limited) propagate with their own exit code.
    """
    report = CheckReport(name)
    try:
        workspace = open_workspace(config_path, name)
        mapping = workspace.mapping
    except FixConfigError as error:
        report.findings.append(Finding.from_error("config", error))
        return report
    report.findings.append(Finding.ok("config", f"{workspace.config.path} and "
                                      f"{mapping.source} load"))
    connection = workspace.connection
    try:
        connection.credentials(environ)
        crm = open_crm(connection, environ=environ)
    except CredentialsError as error:
        report.findings.append(Finding.from_error("credentials", error))
        return report
    report.findings.append(Finding.ok("credentials", f"{connection.crm} accepted the "
                                      f"{connection.auth} flow credentials"))
    try:
        _check_live(report, crm, mapping, sample_size)
    finally:
        crm.close()
    return report


def _check_live(report: CheckReport, crm: CRM, mapping: Mapping, sample_size: int) -> None:
    catalog = crm.describe()
    inputs = input_findings(mapping, catalog)
    report.findings += inputs or [Finding.ok(
        "fields", f"{len(mapping.features)} features and the outcome, time and baseline "
                  f"fields exist on {catalog.object_name} with fitting types")]
    hidden = _hidden_outputs(crm, mapping, catalog)
    outputs = output_findings(mapping, catalog, hidden=hidden, connection=report.connection)
    report.findings += outputs or [Finding.ok(
        "outputs", f"{len(mapping.output_fields())} output fields exist and are writable")]
    if any(f.severity == "problem" and f.subject in catalog.missing(mapping.input_fields())
           for f in inputs):
        return  # a pull would be refused for the missing fields; nothing to profile
    sample = sample_records(crm, mapping.input_fields(), size=sample_size)
    report.sample = sample.describe()
    leaks = sample_leaks(crm, sample, [f.field for f in mapping.features], mapping.outcome_of,
                         mapping.outcome.fields(), mapping.time_field)
    report.findings += data_findings(report, mapping, catalog, sample) + [
        Finding.warning("data", leak.field, f"likely leakage: {leak.seen}", leak.advice)
        for leak in leaks] or [Finding.ok(
            "data", f"{report.sample}: features filled, both outcomes present, no leakage found")]


def _hidden_outputs(crm: CRM, mapping: Mapping, catalog: FieldCatalog) -> set[str]:
    """Output fields that exist on the object but the integration user cannot see (Salesforce
    field-level security hides them from describe); asks the CRM only when one is missing."""
    if not catalog.missing(mapping.output_fields()):
        return set()
    report = crm.ensure_fields(output_specs(mapping), dry_run=True)
    return {name for name in report.existing if name not in catalog}


def data_findings(report: CheckReport, mapping: Mapping, catalog: FieldCatalog,
                  sample: Sample) -> list[Finding]:
    """Profile ``sample``: fills ``report.features`` and ``report.outcomes`` and returns the
    data findings (sparse or constant features, class balance, leakage)."""
    records, findings = sample.records, []
    for feature in mapping.features:
        prof = profile(records, feature.field)
        info = catalog.get(feature.field)
        report.features.append({**prof.as_dict(), "kind": feature.kind,
                                "crm_type": info.crm_type if info else None})
        problem = data_problem(prof, sample)
        if problem:
            findings.append(Finding.warning("data", feature.field, *problem))
    outcomes = [mapping.outcome_of(r) for r in records]
    converted, lost = outcomes.count(True), outcomes.count(False)
    report.outcomes = {"converted": converted, "lost": lost, "closed": converted + lost,
                       "open": outcomes.count(None)}
    return findings + _balance_findings(mapping, converted, lost, sample) + \
        _leakage_findings(mapping, records)


def _balance_findings(mapping: Mapping, converted: int, lost: int, sample: Sample
                      ) -> list[Finding]:
    rule = f"the outcome rule in {mapping.source}"
    if not converted or not lost:
        which = "converted" if not converted else "lost"
        return [Finding.warning("data", "outcome", f"no {which} lead in {sample.describe()}",
                                f"check {rule}: its {which} conditions match no record")]
    need = mapping.training
    if sample.complete and (converted + lost < need.min_closed
                            or converted < need.min_converted):
        return [Finding.warning(
            "data", "outcome", f"{converted + lost} closed leads ({converted} converted); "
            f"training needs {need.min_closed} closed and {need.min_converted} converted",
            "wait for more history, or lower the minimums in the mapping's training section")]
    return []


def _leakage_findings(mapping: Mapping, records: list[dict]) -> list[Finding]:
    rows, y, _, _ = closed_history(records, mapping)
    if len(rows) < MIN_CLOSED_FOR_LEAKAGE or len(set(y.tolist())) < 2:
        return []
    matrix = FeatureEncoder(mapping.features, mapping.time_field).fit(rows).transform(rows)
    return [Finding.warning("data", "leakage", text, f"remove the field from features in "
                            f"{mapping.source}") for text in leakage_warnings(matrix, np.asarray(y))]
