"""The mapping against the live field catalog: stages 3 and 4 of ``leadscore check``, pure.

:func:`input_findings` checks that every field the connector pulls exists and that its CRM type
fits the feature kind; :func:`output_findings` that every output field exists, is writable and
can hold what the write-back sends (:func:`connector.sync.writeback.output_values`). Each problem is
one :class:`Finding` naming the field, the mapping file, line and key, and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from connector.errors import LeadscoreError, MappingError
from connector.mapping import Condition, Mapping, canonical, compose_with_lines
from connector.records import FieldCatalog, FieldInfo
from connector.model.scoring import SCORE_MAX
from connector.sync.writeback import PROBABILITY_DIGITS

Severity = Literal["ok", "warning", "problem"]


@dataclass(frozen=True)
class Finding:
    """One result of ``leadscore check``: the stage, how bad, what it is about, what is wrong
    (and where), and how to fix it."""

    stage: str
    severity: Severity
    subject: str
    message: str
    fix: str = ""

    @classmethod
    def ok(cls, stage: str, message: str) -> Finding:
        """A stage that passed, with what was verified."""
        return cls(stage, "ok", stage, message)

    @classmethod
    def problem(cls, stage: str, subject: str, message: str, fix: str) -> Finding:
        """Something the admin must fix before leadscore can run."""
        return cls(stage, "problem", subject, message, fix)

    @classmethod
    def warning(cls, stage: str, subject: str, message: str, fix: str) -> Finding:
        """Something worth a look that does not stop a sync."""
        return cls(stage, "warning", subject, message, fix)

    @classmethod
    def from_error(cls, stage: str, error: LeadscoreError) -> Finding:
        """A problem from a raised error (its message already says what and where)."""
        return cls(stage, "problem", stage, error.message, error.hint)

    def line(self) -> str:
        """The finding as one line: subject, message and fix."""
        about = "" if self.subject == self.stage else f"{self.subject}: "
        return f"{about}{self.message}" + (f" -> fix: {self.fix}" if self.fix else "")

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


# feature kind -> (CRM kinds that fit, CRM kinds it reads with a caveat); text_present reads all
_FITS = {
    "number": ({"number"}, {"string"}),
    "boolean": ({"boolean"}, {"picklist", "string", "number"}),
    "category": ({"picklist", "string", "boolean"}, {"number", "text", "id"}),
    "date": ({"date", "datetime"}, set()),
}
_CAVEATS = {
    "number": "values are read as numbers; anything else counts as missing",
    "boolean": "only true/false, yes/no and 1/0 are read; anything else counts as missing",
    "category": "each distinct value becomes its own level, and rare ones are pooled",
}
_KIND_FOR = {"number": "number", "boolean": "boolean", "date": "date", "datetime": "date",
             "picklist": "category", "string": "category", "text": "text_present",
             "id": "text_present", "other": "text_present"}
# output role -> CRM kinds that accept the value written (connector.sync.writeback.output_values)
_OUTPUT_KINDS = {"score": {"number"}, "probability": {"number"}, "scored_at": {"datetime"},
                 "tier": {"string", "text", "picklist"}, "reason": {"string", "text"},
                 "model_version": {"string", "text"}}
VERSION_LENGTH = len("v0001")


def locator(mapping: Mapping) -> Callable[[tuple], str]:
    """A function naming a key path of ``mapping`` as ``file:line key`` (file only if the file
    cannot be re-read)."""
    source = mapping.source or "mapping"
    try:
        _, lines = compose_with_lines(Path(source).read_text(encoding="utf-8"), source)
    except (OSError, MappingError):
        lines = None

    def where(path: tuple) -> str:
        key = ".".join(map(str, path))
        return f"{source}:{lines.line_of(path)} {key}" if lines else f"{source} {key}"

    return where


def _missing(catalog: FieldCatalog, name: str, where: str) -> Finding:
    return Finding.problem(
        "fields", name, f"{catalog.object_name} has no field {name} visible to the integration "
        f"user ({where})", "correct the API name (case matters) or grant the user read access")


def _fit(info: FieldInfo, kind: str, where: str) -> Finding | None:
    if kind not in _FITS:
        return None
    fits, caveat = _FITS[kind]
    if info.kind in fits:
        return None
    about = f"{info.name} is a {info.crm_type} field, mapped as kind: {kind} ({where})"
    if info.kind in caveat:
        return Finding.warning("fields", info.name, f"{about}; {_CAVEATS[kind]}",
                               f"use kind: {_KIND_FOR[info.kind]} unless that is intended")
    return Finding.problem("fields", info.name, f"{about}, which cannot read it",
                           f"use kind: {_KIND_FOR[info.kind]}")


def _options(info: FieldInfo, condition: Condition, where: str) -> list[Finding]:
    if info.kind != "picklist" or not info.picklist:
        return []
    listed = [condition.equals] if condition.equals is not None else \
        condition.in_ or condition.not_in or []
    allowed = {canonical(option) for option in info.picklist}
    return [Finding.warning(
        "fields", info.name, f"{value!r} is not an option of {info.name} ({where}), so the "
        "condition never matches it", f"use one of: {', '.join(info.picklist)}")
        for value in listed if canonical(value) not in allowed]


def input_findings(mapping: Mapping, catalog: FieldCatalog) -> list[Finding]:
    """Problems and warnings about the fields the connector reads (features, outcome rule,
    time field, baseline); empty when all is well."""
    where, found = locator(mapping), []
    checks: list[tuple[str, tuple, str | None, Condition | None]] = [
        (f.field, ("features", i, "field"), f.kind, None) for i, f in enumerate(mapping.features)]
    for side in ("converted_when", "lost_when"):
        checks += [(c.field, ("outcome", side, i, "field"), None, c)
                   for i, c in enumerate(getattr(mapping.outcome, side))]
    checks.append((mapping.time_field, ("time_field",), "date", None))
    if mapping.baseline is not None:
        checks += [(r.field, ("baseline", "points", i, "field"), None, None)
                   for i, r in enumerate(mapping.baseline.points or [])]
        if mapping.baseline.score_field:
            checks.append((mapping.baseline.score_field, ("baseline", "score_field"), "number",
                           None))
    for name, path, kind, condition in checks:
        info = catalog.get(name)
        if info is None:
            found.append(_missing(catalog, name, where(path)))
            continue
        misfit = _fit(info, kind, where(path)) if kind else None
        found += [misfit] if misfit else []
        found += _options(info, condition, where(path)) if condition else []
    return list(dict.fromkeys(found))  # a field missing as feature and time field: say it once


def _needed_length(mapping: Mapping, role: str) -> tuple[int, str] | None:
    """(characters, what needs them) of a text output, or None when nothing is required."""
    if role == "reason" and mapping.outputs.reason.max_length:
        return mapping.outputs.reason.max_length, "outputs.reason.max_length is"
    if role == "tier":
        return max(len(t.name) for t in mapping.scoring.tiers), "the longest tier name has"
    if role == "model_version":
        return VERSION_LENGTH, "version names like v0001 have"
    return None


def _needed_number(mapping: Mapping, role: str) -> tuple[int, int, str] | None:
    """(largest value, decimals, what writes it) of a number output, or None."""
    if role == "score":
        scale = mapping.scoring.scale
        return SCORE_MAX, 0, f"scores (scoring.scale: {scale}) go up to"
    if role == "probability":
        return 1, PROBABILITY_DIGITS, "the probability goes up to"
    return None


def _number_fit(mapping: Mapping, role: str, info: FieldInfo, where: str) -> Finding | None:
    """A number output whose precision/scale cannot hold what the write-back sends, or None."""
    need, limit = _needed_number(mapping, role), info.max_number
    if need is None or limit is None:
        return None
    top, decimals, what = need
    scale = info.scale or 0
    short = []
    if limit < top:
        short.append(f"holds numbers up to {limit} ({info.capacity}) but {what} {top}")
    if scale < decimals:
        short.append(f"keeps {scale} decimal{'s' * (scale != 1)} ({info.capacity}) but {role} "
                     f"values have {decimals}")
    if not short:
        return None
    whole = max(info.precision - scale, len(str(top)))
    wanted = f"Number({whole + max(scale, decimals)},{max(scale, decimals)})"
    obj, name = mapping.object, info.name
    return Finding.problem(
        "outputs", name, f"{obj}.{name} {' and '.join(short)} ({where})",
        f"widen {obj}.{name} to {wanted} or more (Salesforce Setup: Length "
        f"{whole}, Decimal Places {max(scale, decimals)})")


def _output_fit(mapping: Mapping, role: str, info: FieldInfo, where: str) -> list[Finding]:
    obj, name = mapping.object, info.name
    if not info.updateable:
        return [Finding.problem(
            "outputs", name, f"{obj}.{name} is read-only for the integration user ({where})",
            f"grant Edit on {obj}.{name} to the integration user (Salesforce: field-level "
            "security), or map the output to a writable field")]
    if info.kind not in _OUTPUT_KINDS[role]:
        kinds = " or ".join(sorted(_OUTPUT_KINDS[role]))
        return [Finding.problem("outputs", name, f"{obj}.{name} is a {info.crm_type} field but "
                                f"the {role} needs a {kinds} field ({where})",
                                "map the output to another field, or delete this one and run "
                                "`leadscore fields create`")]
    if info.kind == "picklist" and info.picklist:
        absent = [t.name for t in mapping.scoring.tiers if t.name not in info.picklist]
        if absent:
            return [Finding.problem("outputs", name, f"{obj}.{name} has no option "
                                    f"{', '.join(absent)} for the tiers ({where})",
                                    f"add {', '.join(absent)} to the picklist's values")]
    misfit = _number_fit(mapping, role, info, where) if info.kind == "number" else None
    if misfit:
        return [misfit]
    need = _needed_length(mapping, role)
    if need and info.length is not None and info.length < need[0]:
        return [Finding.problem(
            "outputs", name, f"{obj}.{name} holds {info.length} characters but {need[1]} "
            f"{need[0]} ({where})", f"widen {obj}.{name} to {need[0]} characters"
            + (f", or lower outputs.reason.max_length to {info.length} in {mapping.source}"
               if role == "reason" and info.length >= 20 else ""))]
    return []


def output_findings(mapping: Mapping, catalog: FieldCatalog, *, hidden: set[str],
                    connection: str) -> list[Finding]:
    """Problems with the fields leadscore writes; empty when all is well.

    ``hidden`` names output fields that exist on the object although describe does not show
    them (Salesforce field-level security); ``connection`` goes into the suggested command.
    """
    where, found, obj = locator(mapping), [], mapping.object
    for role, name in mapping.outputs.named():
        info, at = catalog.get(name), where(("outputs", role))
        if info is not None:
            found += _output_fit(mapping, role, info, at)
        elif name in hidden:
            found.append(Finding.problem(
                "outputs", name, f"{obj}.{name} exists but the integration user can neither see "
                f"nor edit it ({at})", f"grant field-level security (Read and Edit) on "
                f"{obj}.{name} to the integration user: run `leadscore fields create "
                f"--connection {connection} --grant PERMISSION_SET`"))
        else:
            found.append(Finding.problem(
                "outputs", name, f"{obj} has no field {name} ({at})",
                f"run `leadscore fields create --connection {connection}`"))
    return found
