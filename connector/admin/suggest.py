"""``leadscore mappings suggest``: a starting mapping from the object's fields and a data sample.

Every field of the object is either proposed as a feature (picklists and low-cardinality text as
categories, numbers, booleans, dates measured from creation) or left out with the reason written
beside it as a YAML comment: system fields, outcome fields, personal data, leadscore's own
outputs, sparse or constant fields, free text, numbers that follow the calendar rather than the
lead (rates, indices), and fields that leak the outcome (the model's leakage rule, plus any
single field that ranks closed leads suspiciously well on its own). Placeholder numbers such as
pdays = 999 ("never contacted") become the feature's ``missing_values``. The outcome rule, time
field, outputs and tiers follow the examples in ``mappings/``.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from connector.config import ConnectionConfig
from connector.crm import CRM
from connector.errors import ConfigError
from connector.model.features import FeatureEncoder, FeatureMatrix, parse_time
from connector.mapping import Feature, Outcome, to_number
from connector.model.metrics import single_field_strength
from connector.model.leaks import Leak
from connector.model.train import leakage_warnings
from connector.records import FieldCatalog, FieldInfo
from connector.admin.leak_check import sample_leaks
from connector.admin.sampling import SAMPLE_SIZE, Sample, data_problem, profile, sample_records

MAX_CATEGORY_VALUES = 50  # more distinct texts than this in the sample: free text
SUSPECT_AUC = 0.85  # no single fact known before a sale usually ranks closed leads this well
PERIOD_SHARE = 0.7  # on the demo: economic indices 0.84-0.97, every lead attribute under 0.3
MIN_CLOSED = 20
SENTINEL_SHARE = 0.01  # a placeholder shows up often; a rare 99 is more likely a real 99
SENTINEL_GAP = 3  # ...and lies well beyond the real values (pdays: 999 vs at most 27)
MAX_CODE_LEVELS = 20  # an integer field with at most this many values may be a code
# Words that name a code for a kind of thing (operating system 1-8, region 1-9, traffic type
# 1-20): its numbers are labels, not amounts, so the field is a category.
CODE_WORDS = {"type", "types", "code", "codes", "region", "regions", "browser", "browsers",
              "system", "systems", "os", "category", "class", "group", "segment", "channel",
              "kind", "zone", "area", "country", "state", "device", "platform", "source"}

RULES = {
    "salesforce": {"time_field": "CreatedDate", "reason_length": 1000,
                   "converted_when": [{"field": "IsConverted", "equals": True}],
                   "lost_when": [{"field": "Status", "equals": "Closed - Not Converted"}]},
    "hubspot": {"time_field": "createdate", "reason_length": 500,
                "converted_when": [{"field": "lifecyclestage", "in": ["opportunity", "customer"]}],
                "lost_when": [{"field": "hs_lead_status", "equals": "UNQUALIFIED"}]},
}
ROLES = ("score", "tier", "reason", "probability", "model_version", "scored_at")
OUTCOME_NAMES = {"status", "isconverted", "converteddate", "lifecyclestage", "hsleadstatus",
                 "closedate", "totalrevenue"}
# CRM-set stage dates and times, and anything that follows a deal (created on conversion)
OUTCOME_PATTERN = re.compile(r"converted|date_?entered|date_?exited|time_?in_|became|deal")
SYSTEM_NAMES = {"ownerid", "hubspotownerid", "masterrecordid", "lastvieweddate",
                "lastreferenceddate", "systemmodstamp", "isdeleted"}
PERSONAL_NAMES = {"name", "firstname", "lastname", "middlename", "fullname", "company",
                  "companyname", "mobilephone", "postalcode", "zipcode", "ipaddress",
                  "dateofbirth", "birthdate", "website"}
PERSONAL_WORDS = {"email", "phone", "mobile", "fax", "street", "address", "city", "zip",
                  "postal", "salutation", "linkedin", "twitter"}
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}

WHY = {
    "output": "leadscore's own output (the model would learn from its own scores)",
    "time": "the time field: orders the history, set once when the record is created",
    "outcome": "outcome field: it records the result being predicted, so it leaks the answer",
    "system": "system field (ids, audit stamps, owner, flags the CRM sets)",
    "personal": "personal data (names, contact details, address): identifies someone, says "
                "nothing reliable about converting",
    "reference": "an id or reference to another record, not a property of the lead",
}


def output_names(crm: str) -> dict[str, str]:
    """The output field of each role, named as in the example mappings."""
    if crm == "salesforce":
        return {role: f"LS_{role.title()}__c" for role in ROLES}
    return {role: f"ls_{role}" for role in ROLES}


@dataclass
class Suggestion:
    """The suggested mapping: its features, the fields left out and why, and the YAML text."""

    features: list[Feature] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    sample: str = ""
    yaml: str = ""


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().removesuffix("__c"))


def _words(name: str) -> set[str]:
    """``HasOptedOutOfEmail`` -> {has, opted, out, of, email}; ``hs_lead_status`` likewise."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+",
                                          name.removesuffix("__c"))}


def readable_label(label: str, name: str) -> str:
    """The CRM label when it reads as words, else one made from the API name:
    ``ProductRelated_Duration`` -> ``Product related duration`` (acronyms stay: ``Lead ID``)."""
    text = label.strip() or name
    if " " in text:
        return text
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", text.removesuffix("__c"))
    if not words:
        return text
    words = [w if w.isupper() and len(w) > 1 else w.lower() for w in words]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def integer_code(name: str, values: Sequence[float]) -> bool:
    """Whether a number field holds codes rather than amounts: whole numbers, at most
    :data:`MAX_CODE_LEVELS` of them, and a name that says what kind of thing it codes."""
    levels = set(values)
    return (0 < len(levels) <= MAX_CODE_LEVELS and all(float(v).is_integer() for v in levels)
            and bool(_words(name) & CODE_WORDS))


def _is_outcome(info: FieldInfo, rule_fields: set[str]) -> bool:
    lower = info.name.lower()
    return (info.name in rule_fields or _key(info.name) in OUTCOME_NAMES
            or bool(OUTCOME_PATTERN.search(lower))
            or ("conversion" in lower and info.kind in ("date", "datetime")))


def _is_personal(info: FieldInfo) -> bool:
    # Only text can hold a name or an address; an "email opt-out" flag is not personal data.
    if info.crm_type in ("email", "phone", "url"):
        return True
    return info.kind in ("string", "text") and (
        _key(info.name) in PERSONAL_NAMES or bool(_words(info.name) & PERSONAL_WORDS))


def _static_reason(info: FieldInfo, crm: str, rule_fields: set[str]) -> str | None:
    """Why a field is left out whatever its data says, or None."""
    name = info.name
    if name in output_names(crm).values():
        return WHY["output"]
    if name == RULES[crm]["time_field"]:
        return WHY["time"]
    if _is_outcome(info, rule_fields):
        return WHY["outcome"]
    if _key(name) in SYSTEM_NAMES or (not info.custom and not info.updateable):
        return WHY["system"]
    if _is_personal(info):
        return WHY["personal"]
    if info.kind in ("id", "other"):
        return WHY["reference"]
    return None


def period_share(records: Sequence[dict], name: str, time_field: str) -> float:
    """The share of a number's variance explained by when the record was created (20
    equal-count time windows): near 1 for a rate or index that is the same for every lead at
    a given time, near 0 for a fact about the lead."""
    pairs = sorted((t, v) for r in records if (t := parse_time(r.get(time_field))) is not None
                   and (v := to_number(r.get(name))) is not None)
    values = np.array([v for _, v in pairs])
    if len(values) < 100 or values.var() == 0:
        return 0.0
    within = sum(w.var() * len(w) for w in np.array_split(values, 20)) / len(values)
    return float(1 - within / values.var())


def sentinel_values(values: Sequence[float]) -> list[float]:
    """Placeholder numbers in ``values`` that stand for "unknown" or "never" rather than an
    amount: an all-nines (9, 99, 999...) or minus-one style value held by at least
    :data:`SENTINEL_SHARE` of the rows and far outside the range of every other value (pdays =
    999 for "never contacted", -1 for "not asked"). Left as numbers they would read as the most
    extreme amount; the mapping's ``missing_values`` makes them missing instead."""
    array = np.asarray(values, dtype=float)
    found = []
    for candidate in np.unique(array):
        digits = f"{abs(candidate):g}"
        if not (set(digits) == {"9"} or candidate == -1) or candidate == 9:
            continue
        share = float(np.mean(array == candidate))
        rest = array[array != candidate]
        if share < SENTINEL_SHARE or rest.size == 0:
            continue
        if candidate > 0 and rest.max() * SENTINEL_GAP < candidate or \
                candidate < 0 and rest.min() >= 0:
            found.append(int(candidate) if candidate.is_integer() else float(candidate))
    return found


def _candidate(info: FieldInfo, sample: Sample, time_field: str) -> tuple[Feature | None, str]:
    """The feature a field would make on ``sample``, or None and why not (sparse and constant
    fields by the rule ``check`` applies too)."""
    records = sample.records
    prof = profile(records, info.name)
    problem = data_problem(prof, sample)
    if problem:
        return None, problem[0]
    label = readable_label(info.label, info.name)
    if info.kind == "number" and (share := period_share(records, info.name, time_field)) \
            >= PERIOD_SHARE:
        return None, (f"follows the calendar, not the lead: {share:.0%} of its variation is "
                      "explained by when the record was created (a rate, index or price); the "
                      "model could not carry it into future periods")
    if info.kind == "number":
        present = [v for r in records if (v := to_number(r.get(info.name))) is not None]
        if integer_code(info.name, present):
            return Feature(field=info.name, kind="category", label=f"{label}: {{value}}"), ""
        sentinels = sentinel_values(present)
        return Feature(field=info.name, kind="number", label=f"{label} {{value}}",
                       **({"missing_values": sentinels} if sentinels else {})), ""
    if info.kind == "boolean":
        return Feature(field=info.name, kind="boolean", label=f"{label}: {{value}}"), ""
    if info.kind in ("date", "datetime"):
        return Feature(field=info.name, kind="date", derive="days_after_created",
                       label=f"{label} {{value}} days after creation"), ""
    if info.kind == "picklist" or (info.kind == "string"
                                   and prof.distinct <= MAX_CATEGORY_VALUES):
        return Feature(field=info.name, kind="category", label=f"{label}: {{value}}"), ""
    return None, (f"free text with {prof.distinct:,}{'+' * (prof.distinct >= 1000)} "
                  "different values in the sample, too many to use as categories")


def _leaks(features: list[Feature], time_field: str, outcome: Outcome,
           records: Sequence[dict]) -> dict[str, str]:
    """Features whose values give the outcome away: the model's leakage warning, or a
    single-field ROC AUC of :data:`SUSPECT_AUC` or more on the sample's closed records."""
    closed = [(r, o) for r in records if (o := outcome.of(r)) is not None]
    y = np.array([o for _, o in closed], dtype=int)
    if len(closed) < MIN_CLOSED or len(set(y.tolist())) < 2:
        return {}
    rows = [r for r, _ in closed]
    matrix = FeatureEncoder(features, time_field).fit(rows).transform(rows)
    fields = np.asarray(matrix.fields)
    found = {}
    for name, auc, _, _ in single_field_strength(matrix, y):
        cols = np.flatnonzero(fields == name)
        alone = FeatureMatrix(matrix.values[:, cols], *(tuple(np.asarray(part)[cols]) for part
                                                        in (matrix.columns, matrix.fields,
                                                            matrix.roles)))
        warned = leakage_warnings(alone, y)  # the model's own rule, one field at a time
        if warned:
            found[name] = warned[0].removeprefix("likely leakage: ")
        elif auc >= SUSPECT_AUC:
            found[name] = (f"alone it ranks the sample's closed leads with ROC AUC {auc:.2f}, "
                           "more than any fact known before the outcome usually does: it is "
                           "probably recorded during or after the sale (add it back only if "
                           "you know it is filled before)")
    return found


def suggest_mapping(crm: str, catalog: FieldCatalog, sample: Sample,
                    leaks: Sequence[Leak] = ()) -> Suggestion:
    """The suggested mapping for ``catalog``'s object, judged on ``sample`` (pure); ``leaks``
    (closed/open gaps, history timing: :mod:`connector.admin.leak_check`) are left out too."""
    if crm not in RULES:
        raise ConfigError(f"no outcome rule known for {crm}; write the mapping by hand from "
                          "the examples in mappings/")
    rule = RULES[crm]
    outcome = Outcome.model_validate({k: rule[k] for k in ("converted_when", "lost_when")})
    absent = catalog.missing([*outcome.fields(), rule["time_field"]])
    if absent:
        raise ConfigError(f"{catalog.object_name} has no field {', '.join(absent)}, which the "
                          f"standard {crm} outcome rule reads; write the outcome by hand")
    result = Suggestion(sample=sample.describe())
    for info in catalog.fields.values():
        reason = _static_reason(info, crm, set(outcome.fields()))
        feature = None
        if reason is None:
            feature, reason = _candidate(info, sample, rule["time_field"])
        if feature is not None:
            result.features.append(feature)
        else:
            result.left_out.append((info.name, reason))
    found = _leaks(result.features, rule["time_field"], outcome, sample.records)
    for leak in leaks:
        if any(f.field == leak.field for f in result.features):
            found.setdefault(leak.field, f"it {leak.seen}; {leak.advice}")
    result.features = [f for f in result.features if f.field not in found]
    result.left_out += [(name, f"leakage: {why}") for name, why in found.items()]
    if not result.features:
        raise ConfigError(f"no field of {catalog.object_name} looks usable as a feature in "
                          f"{sample.describe()}; write the mapping by hand")
    result.yaml = render(crm, catalog.object_name, rule, output_names(crm), result)
    return result


def suggest_for_connection(crm: CRM, connection: ConnectionConfig, *,
                           sample_size: int = SAMPLE_SIZE) -> Suggestion:
    """Describe ``crm``'s object, sample its records and return the suggested mapping."""
    catalog = crm.describe()
    if connection.crm not in RULES:
        raise ConfigError(f"no outcome rule known for {connection.crm}")
    rule = RULES[connection.crm]
    rule_fields = {c["field"] for c in (*rule["converted_when"], *rule["lost_when"])}
    # Pull only what can become a feature, plus what the outcome and time need: personal data
    # and system fields are judged by their description alone and never read.
    wanted = [name for name, info in catalog.fields.items()
              if _static_reason(info, connection.crm, rule_fields) is None]
    wanted += [name for name in (*rule_fields, rule["time_field"]) if name in catalog]
    sample = sample_records(crm, wanted, size=sample_size)
    outcome = Outcome.model_validate({k: rule[k] for k in ("converted_when", "lost_when")})
    leaks = sample_leaks(crm, sample, [n for n in wanted if n != rule["time_field"]],
                         outcome.of, sorted(rule_fields), rule["time_field"])
    return suggest_mapping(connection.crm, catalog, sample, leaks)


HEADER = ("Suggested by `leadscore mappings suggest` for {crm} {object}, from {sample}. A "
          "starting point: check that every feature is known before a lead's outcome, read why "
          "the fields at the end were left out, then run `leadscore check --connection NAME`.")
_TIERS = """\
scoring:
  scale: probability
  tiers:
    - {name: Hot, top_share: 0.10}
    - {name: Warm, top_share: 0.30}
    - {name: Cool, top_share: 0.60}
    - {name: Cold}
  reasons: {count: 3, separator: " · "}
"""


def _scalar(value: object) -> str:
    """``value`` as a YAML flow scalar (or list), quoted only when it has to be."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _flow(entry: dict) -> str:
    return "{" + ", ".join(f"{key}: {_scalar(value)}" for key, value in entry.items()) + "}"


def render(crm: str, object_name: str, rule: dict, outputs: dict[str, str],
           suggestion: Suggestion) -> str:
    """The mapping YAML of ``suggestion``, laid out like the examples in ``mappings/``."""
    header = HEADER.format(crm=crm, object=object_name, sample=suggestion.sample)
    lines = ["# " + part for part in textwrap.wrap(header, 96)]
    lines += [f"crm: {crm}", f"object: {object_name}", f"time_field: {rule['time_field']}", "",
              "outcome:", "  converted_when:",
              *[f"    - {_flow(c)}" for c in rule["converted_when"]],
              "  lost_when:", *[f"    - {_flow(c)}" for c in rule["lost_when"]], "", "features:"]
    lines += [f"  - {_flow(f.model_dump(exclude_defaults=True))}" for f in suggestion.features]
    lines += ["", "# Left out on purpose:"]
    by_reason: dict[str, list[str]] = {}
    for name, why in suggestion.left_out:
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        lines += ["# " + part for part in textwrap.wrap(f"- {', '.join(names)}: {why}", 96,
                                                        subsequent_indent="    ")]
    lines += ["", "outputs:", *[f"  {role}: {outputs[role]}" for role in ("score", "tier")],
              f"  reason: {{field: {outputs['reason']}, max_length: {rule['reason_length']}}}",
              *[f"  {role}: {outputs[role]}" for role in ROLES[3:]], "", _TIERS.rstrip(), "",
              "# training: minimums and holdout share keep their defaults (see the examples)."]
    return "\n".join(lines) + "\n"
