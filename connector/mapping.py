"""One field-mapping YAML: which CRM fields feed the model, what "converted" means, where results go.

``load_mapping(path)`` reads and validates a file and returns a :class:`Mapping`; every problem is
raised as :class:`~connector.errors.MappingError` naming the file, the line and the key path.
Line numbers come from composing the YAML node tree (each node keeps its start mark) next to the
plain load. The examples in ``mappings/`` show every key.
"""

from __future__ import annotations

import functools
import math
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connector.errors import MappingError

FeatureKind = Literal["category", "number", "boolean", "date", "text_present"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def to_number(value: Any) -> float | None:
    """A finite float from a CRM value (JSON number, numeric string, bool), else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and len(value) < 64:
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def canonical(value: Any) -> str | None:
    """A CRM value as comparable text: HubSpot's "true" and Salesforce's true, "7" and 7.0
    compare equal; text is trimmed and case-folded; empty and non-scalar values are None."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, float) or (isinstance(value, str) and len(value) > _REMEMBERED_TEXT):
        return _canonical_scalar.__wrapped__(value)
    return _canonical_scalar(value)


_REMEMBERED_TEXT = 64


@functools.lru_cache(maxsize=4096, typed=True)
def _canonical_scalar(value: Any) -> str | None:
    """:func:`canonical` of a scalar, remembered for the short values that repeat: every sync
    fingerprints every record's inputs, mostly a few categories, flags and counts (``typed``:
    True and 1 stay apart). Not floats (0.0 and -0.0 share a slot but not a text) nor long
    text (it rarely repeats, and a person's free text must not linger in a worker)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    number = to_number(value)
    if number is not None:
        return repr(number)
    text = str(value).strip().casefold()
    return text or None


Scalar = bool | int | float | str


class Condition(_Strict):
    """One test on one CRM field; exactly one of the operators is given."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    is_set: bool | None = None
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [name for name in ("equals", "in_", "not_in", "is_set", "above", "below")
                 if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, in, not_in, is_set, above, below")
        return self

    def holds(self, record: dict[str, Any]) -> bool:
        """Whether the condition is true for ``record`` (missing values never match a value)."""
        value = canonical(record.get(self.field))
        if self.is_set is not None:
            return (value is not None) == self.is_set
        if self.above is not None or self.below is not None:
            number = to_number(record.get(self.field))
            if number is None:
                return False
            return number > self.above if self.above is not None else number < self.below
        if self.equals is not None:
            return value is not None and value == self._compared
        return value is not None and (value in self._compared) == (self.in_ is not None)

    @functools.cached_property
    def _compared(self) -> str | frozenset[str | None] | None:
        """The ``equals`` value, or the ``in`` / ``not_in`` set, in canonical form, worked out
        once (a sync tests every record's outcome; conditions are never changed in place)."""
        if self.equals is not None:
            return canonical(self.equals)
        return frozenset(canonical(v) for v in (self.in_ if self.in_ is not None
                                                 else self.not_in))


class PointsRule(Condition):
    """A line of an admin's points rule: add ``points`` when the condition holds."""

    points: float


class Outcome(_Strict):
    """How a record's outcome is read: converted if any ``converted_when`` condition holds,
    lost if any ``lost_when`` condition holds, otherwise still open."""

    converted_when: Annotated[list[Condition], Field(min_length=1)]
    lost_when: Annotated[list[Condition], Field(min_length=1)]

    def of(self, record: dict[str, Any]) -> bool | None:
        """True (converted), False (lost) or None (open) for one record."""
        if any(c.holds(record) for c in self.converted_when):
            return True
        if any(c.holds(record) for c in self.lost_when):
            return False
        return None

    def fields(self) -> list[str]:
        """The CRM fields the rule reads."""
        return [c.field for c in (*self.converted_when, *self.lost_when)]


class Feature(_Strict):
    """One CRM field fed to the model, and how its values are read."""

    field: str
    kind: FeatureKind
    label: str
    unit: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    # How a number reads in reasons: percent (a share, 0.25 -> 25%), duration_s or
    # duration_min (an amount of time, 200 -> "3 min 20 s"); `unit` is written after it.
    format: Literal["percent", "duration_s", "duration_min"] | None = None
    trim: bool = True
    case_fold: bool = True
    aliases: dict[str, list[str]] = {}
    missing_values: list[float | str] = []
    derive: Literal["days_after_created", "month", "weekday", "hour"] | None = None
    min_count: Annotated[int, Field(ge=1)] = 20
    max_levels: Annotated[int, Field(ge=1, le=200)] = 30

    @model_validator(mode="after")
    def _options_fit_kind(self) -> Feature:
        if self.aliases and self.kind != "category":
            raise ValueError("`aliases` only applies to kind: category")
        if self.derive is not None and self.kind != "date":
            raise ValueError("`derive` only applies to kind: date")
        if (self.format or self.unit) and self.kind != "number":
            raise ValueError("`format` and `unit` only apply to kind: number")
        return self


class OutputField(_Strict):
    """A CRM field the connector writes; ``max_length`` caps text values (reason)."""

    field: str
    max_length: Annotated[int, Field(ge=20)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `score: LS_Score__c` is the common case; the mapping form adds max_length.
        return {"field": value} if isinstance(value, str) else value


class Outputs(_Strict):
    """Where results are written. score, tier and reason are required."""

    score: OutputField
    tier: OutputField
    reason: OutputField
    probability: OutputField | None = None
    model_version: OutputField | None = None
    scored_at: OutputField | None = None

    def named(self) -> list[tuple[str, str]]:
        """(role, CRM field) for every configured output, in a fixed order."""
        return [(role, out.field) for role in type(self).model_fields
                if (out := getattr(self, role)) is not None]


class Tier(_Strict):
    """A tier: leads at or above ``min_score``, or within the ``top_share`` of the reference
    population; the last tier takes the rest and has neither."""

    name: Annotated[str, Field(min_length=1, max_length=40)]
    min_score: Annotated[int, Field(ge=0, le=100)] | None = None
    top_share: Annotated[float, Field(gt=0, lt=1)] | None = None


class Reasons(_Strict):
    """How the reason text is built."""

    count: Annotated[int, Field(ge=1, le=10)] = 3
    separator: str = " · "


_DEFAULT_TIERS = [Tier(name="Hot", top_share=0.1), Tier(name="Warm", top_share=0.3),
                  Tier(name="Cool", top_share=0.6), Tier(name="Cold")]


class Scoring(_Strict):
    """What the score means and how it is cut into tiers (see README: score scale)."""

    scale: Literal["probability", "percentile"] = "probability"
    tiers: Annotated[list[Tier], Field(min_length=2)] = _DEFAULT_TIERS
    reasons: Reasons = Reasons()

    @model_validator(mode="after")
    def _tiers_consistent(self) -> Scoring:
        *ranked, rest = self.tiers
        if rest.min_score is not None or rest.top_share is not None:
            raise ValueError(f"the last tier ({rest.name}) takes the rest: give it no cut")
        by_share = [t.top_share is not None for t in ranked]
        if any(t.min_score is None and t.top_share is None for t in ranked):
            raise ValueError("every tier but the last needs `min_score` or `top_share`")
        if any(by_share) and not all(by_share) or any(t.min_score is not None and t.top_share
                                                      is not None for t in ranked):
            raise ValueError("use either `min_score` on every tier or `top_share` on every tier")
        cuts = [t.top_share if all(by_share) else -t.min_score for t in ranked]
        if cuts != sorted(set(cuts)):
            raise ValueError("tiers must go from best to worst with strictly widening cuts")
        if len({t.name for t in self.tiers}) != len(self.tiers):
            raise ValueError("tier names must be unique")
        return self


class Baseline(_Strict):
    """What admins use today, scored on the same holdout: a points rule or a CRM score field."""

    points: list[PointsRule] | None = None
    score_field: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Baseline:
        if (self.points is None) == (self.score_field is None):
            raise ValueError("give exactly one of `points` or `score_field`")
        return self


class Training(_Strict):
    """Minimum data to train, the share of newest closed leads held out, the point in time
    whose inputs a closed lead trains with, and the scoring budget of a full rescan.

    ``decision_point``: ``last_open`` (default) takes a closed lead's inputs as they were the
    last time it was scored while open; ``first_scored`` as they were when first scored (for a
    model meant to rank leads on arrival). ``retention_days`` bounds the feature log.
    ``rescan_minutes``: a candidate model whose exact reasons would take longer than this to
    score the whole org (a full rescan follows every promotion) is not chosen.
    """

    min_closed: Annotated[int, Field(ge=10)] = 1000
    min_converted: Annotated[int, Field(ge=5)] = 120
    holdout_share: Annotated[float, Field(ge=0.05, le=0.5)] = 0.2
    decision_point: Literal["last_open", "first_scored"] = "last_open"
    retention_days: Annotated[int, Field(ge=1)] = 400
    rescan_minutes: Annotated[float, Field(gt=0)] = 10.0


SUBJECT_FIELDS = frozenset({"tier", "score", "previous_tier"})


class Callbacks(_Strict):
    """A follow-up task for the lead's owner when a new or rescored lead enters ``tier``
    (Salesforce ``Task``, HubSpot task associated with the record); never for control leads.

    ``subject`` may use ``{tier}``, ``{score}`` and ``{previous_tier}``; the task is due
    ``due_in_hours`` after the lead entered the tier. ``owner_field`` is the record's owner
    (default: ``OwnerId`` on Salesforce, ``hubspot_owner_id`` on HubSpot).
    """

    enabled: bool = True
    tier: str = "Hot"
    subject: Annotated[str, Field(min_length=1, max_length=255)] = (
        "Call back: {tier} lead (score {score})")
    due_in_hours: Annotated[float, Field(ge=0, le=24 * 90)] = 0.0
    priority: Literal["High", "Normal", "Low"] = "High"
    owner_field: str | None = None

    @model_validator(mode="after")
    def _known_placeholders(self) -> Callbacks:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(self.subject) if name}
        except ValueError as error:
            raise ValueError(f"subject: {error}") from None
        unknown = sorted(names - SUBJECT_FIELDS)
        if unknown:
            raise ValueError(f"subject uses {{{unknown[0]}}}; use only "
                             f"{', '.join('{' + n + '}' for n in sorted(SUBJECT_FIELDS))}")
        return self

    def owner(self, crm: str) -> str:
        """The CRM field that holds the lead's owner."""
        return self.owner_field or ("OwnerId" if crm == "salesforce" else "hubspot_owner_id")


class Mapping(_Strict):
    """A validated mapping file."""

    crm: Literal["salesforce", "hubspot"]
    object: str
    time_field: str
    outcome: Outcome
    features: Annotated[list[Feature], Field(min_length=1)]
    outputs: Outputs
    scoring: Scoring = Scoring()
    baseline: Baseline | None = None
    training: Training = Training()
    callbacks: Callbacks | None = None
    source: str | None = Field(default=None, exclude=True)

    def outcome_of(self, record: dict[str, Any]) -> bool | None:
        """True if converted, False if lost, None if the lead is still open."""
        return self.outcome.of(record)

    def input_fields(self) -> list[str]:
        """Every CRM field the connector must pull: features, outcome, time field, baseline."""
        fields = [f.field for f in self.features] + self.outcome.fields() + [self.time_field]
        if self.baseline is not None:
            fields += [r.field for r in self.baseline.points or []]
            fields += [self.baseline.score_field] if self.baseline.score_field else []
        return list(dict.fromkeys(fields))

    def output_fields(self) -> list[str]:
        """Every CRM field the connector writes."""
        return [field for _, field in self.outputs.named()]

    def feature(self, field: str) -> Feature:
        """The feature spec mapped to ``field``."""
        return next(f for f in self.features if f.field == field)


def _cross_checks(m: Mapping) -> list[tuple[tuple, str, str]]:
    """Rules spanning several keys, each as (key path, message, hint)."""
    problems = []
    seen_out: dict[str, str] = {}
    for role, field in m.outputs.named():
        if field.casefold() in seen_out:
            problems.append((("outputs", role), f"output field {field} is also used for "
                             f"{seen_out[field.casefold()]}", "give each output its own field"))
        seen_out.setdefault(field.casefold(), role)
    outcome_fields = {f.casefold() for f in m.outcome.fields()}
    if m.callbacks is not None and m.callbacks.tier not in {t.name for t in m.scoring.tiers}:
        problems.append((("callbacks", "tier"), f"callbacks tier {m.callbacks.tier!r} is not "
                         "one of the scoring tiers", "use a tier name from scoring.tiers"))
    seen_feat: set[str] = set()
    for i, feat in enumerate(m.features):
        key = feat.field.casefold()
        if key in seen_feat:
            problems.append((("features", i, "field"), f"feature {feat.field} is listed twice",
                             "keep one entry per CRM field"))
        if key in seen_out:
            problems.append((("features", i, "field"), f"{feat.field} is an output field "
                             "(the model would learn from its own scores)",
                             "remove it from features or pick another output field"))
        if key in outcome_fields:
            problems.append((("features", i, "field"), f"{feat.field} decides the outcome, "
                             "so it leaks the answer", "remove it from features"))
        seen_feat.add(key)
    return problems


def load_mapping(path: str | Path) -> Mapping:
    """Read, validate and return the mapping in ``path``; raise MappingError on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping: {exc}", "check the path and encoding",
                           file=str(path)) from exc
    data, lines = compose_with_lines(text, str(path))
    if not isinstance(data, dict):
        raise MappingError("the file must hold a YAML mapping (key: value lines)",
                           file=str(path), line=1)
    try:
        mapping = Mapping.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        raise error_from_validation(exc, lines, str(path)) from None
    for key_path, message, hint in _cross_checks(mapping):
        raise MappingError(message, hint, file=str(path), line=lines.line_of(key_path),
                           key=".".join(map(str, key_path)))
    return mapping


# -- YAML with line numbers -------------------------------------------------------------------


class _Lines:
    """Line number (1-based) of every key path in a composed YAML document."""

    def __init__(self) -> None:
        self.by_path: dict[tuple, int] = {(): 1}

    def line_of(self, path: tuple) -> int:
        """The line of ``path``, or of its nearest ancestor that exists in the file."""
        while path not in self.by_path:
            path = path[:-1]
        return self.by_path[path]


def _walk(node: yaml.Node, path: tuple, lines: _Lines, file: str) -> None:
    lines.by_path.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            if path + (key,) in lines.by_path:
                raise MappingError(f"key `{key}` appears twice", "keep one of them", file=file,
                                   line=key_node.start_mark.line + 1,
                                   key=".".join(map(str, path + (key,))))
            lines.by_path[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, file)


def compose_with_lines(text: str, file: str) -> tuple[Any, _Lines]:
    """Parse YAML ``text`` into plain data plus the line of every key path."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingError(f"YAML syntax error: {problem}",
                           "check indentation, colons and quotes around this line", file=file,
                           line=mark.line + 1 if mark else None) from None
    lines = _Lines()
    if root is not None:
        _walk(root, (), lines, file)
    return data, lines


_HINTS = {
    "missing": "add this key (the examples in mappings/ show its form)",
    "extra_forbidden": "remove it or fix its spelling",
    "literal_error": "use one of the values listed",
}


def error_from_validation(exc: ValidationError, lines: _Lines, file: str) -> MappingError:
    """Turn pydantic's first error into a MappingError naming the line and key path."""
    errors = exc.errors()
    first = errors[0]
    path: tuple = ()
    for index, part in enumerate(first["loc"]):
        # pydantic adds union/validator tags to loc; keep only real keys (or the missing one).
        is_last_missing = first["type"] == "missing" and index == len(first["loc"]) - 1
        if path + (part,) not in lines.by_path and not is_last_missing:
            break
        path += (part,)
    message = first["msg"].removeprefix("Value error, ")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    hint = _HINTS.get(first["type"], "fix the value (the examples in mappings/ show every key)")
    key = ".".join(str(p) for p in path) or None
    return MappingError(message, hint, file=file, line=lines.line_of(path), key=key)
