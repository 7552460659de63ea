"""The report's control-group section: scored vs control conversion with intervals, per
would-be tier, the model's ranking on the control group alone, and time to conversion.

:func:`gather_pilot` reads the pilot's leads from the state store and their outcomes from the
CRM (by id, one call per batch); :func:`render_pilot` turns the result into the section's HTML.
The statistics are :mod:`connector.admin.uplift`'s pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from connector.admin.uplift import (
    Lead, UpliftRow, headline, median_days, ranking_auc, uplift_rows)
from connector.crm.base import CRM
from connector.mapping import Mapping
from connector.records import parse_stamp
from connector.state import StateStore

# Where each CRM records when a lead converted (used only if the object has the field).
CONVERSION_DATE = {"salesforce": "ConvertedDate", "hubspot": "hs_lifecyclestage_customer_date"}


@dataclass(frozen=True)
class PilotReport:
    """What the control-group section shows."""

    headline: str
    rows: list[UpliftRow]
    control_share: float | None
    groups: dict[str, int]
    auc_control: tuple[float | None, int]
    auc_scored: tuple[float | None, int]
    days: dict[str, float | None] = field(default_factory=dict)
    dated: bool = False
    warnings: list[str] = field(default_factory=list)


def _day(value) -> date | None:
    if not value:
        return None
    text = str(value)
    try:
        return date.fromisoformat(text[:10]) if len(text) <= 10 else parse_stamp(text).date()
    except ValueError:
        return None


def pilot_leads(state: StateStore, crm: CRM, mapping: Mapping, name: str
                ) -> tuple[list[Lead], bool]:
    """The pilot's leads with their outcomes as the CRM holds them now, and whether the CRM
    records conversion dates."""
    rows = state.pilot.pilot_rows(name)
    date_field = CONVERSION_DATE.get(mapping.crm)
    dated = date_field in crm.describe()
    fields = list(dict.fromkeys(mapping.outcome.fields() + ([date_field] if dated else [])))
    values: dict[str, dict] = {}
    size = crm.write_batch_size
    for start in range(0, len(rows), size):
        ids = [row.record_id for row in rows[start:start + size]]
        values.update({r.id: dict(r.values) for r in crm.read(ids, fields)})
    leads = []
    for row in rows:
        record = values.get(row.record_id)
        if record is None:  # deleted since: no outcome will come
            continue
        outcome = mapping.outcome_of(record)
        converted = _day(record.get(date_field)) if dated and outcome else None
        first = row.first_scored_at.date() if isinstance(row.first_scored_at, datetime) else None
        days = (converted - first).days if converted and first else None
        leads.append(Lead(row.group, row.tier, row.score, outcome,
                          None if days is None else max(days, 0)))
    return leads, dated


def gather_pilot(state: StateStore, crm: CRM, mapping: Mapping, name: str,
                 control_share: float | None) -> PilotReport | None:
    """The section's content, or None when the connection never had a control group."""
    groups = state.pilot.group_sizes(name)
    if not groups["control"]:
        return None
    leads, dated = pilot_leads(state, crm, mapping, name)
    tiers = [t.name for t in mapping.scoring.tiers]
    rows = uplift_rows(leads, tiers)
    focus = mapping.callbacks.tier if mapping.callbacks else tiers[0]
    share = control_share if control_share else groups["control"] / max(
        groups["control"] + groups["scored"], 1)
    chosen = next(row for row in rows if row.tier == focus)
    return PilotReport(
        headline=headline(chosen if chosen.control[1] else rows[0], share), rows=rows,
        warnings=pilot_warnings(rows, control_share, groups),
        control_share=control_share, groups=groups,
        auc_control=ranking_auc(leads, "control"), auc_scored=ranking_auc(leads, "scored"),
        days={group: median_days(leads, group) for group in ("scored", "control")},
        dated=dated)


def pilot_warnings(rows: list[UpliftRow], control_share: float | None,
                   groups: dict[str, int]) -> list[str]:
    """Warnings for the report's first screen: a tier where leads reps saw converted
    measurably *less* than control leads, and a control group switched off with leads whose
    scores were never written yet."""
    found = []
    for row in rows:
        d, low, high = row.difference
        if row.measurable and high < 0:
            found.append(f"{row.tier} leads reps saw converted {100 * -d:.0f} points less than "
                         f"control leads (95% interval {100 * low:+.0f} to {100 * high:+.0f}): "
                         "check how the tier is worked before widening the pilot.")
    waiting = groups["control"] - groups["released"]
    if not control_share and waiting:
        found.append(f"The control group is switched off, but {waiting:,} of its leads have no "
                     "scores in the CRM yet: run a sync to write them.")
    return found


TEMPLATE = """<section id="pilot"><h2>Does scoring change anything? (control group)</h2>
<p class="note">{{ "{:,}".format(p.groups.control) }} leads were held back as a control group
(scored, never shown to reps{{ ", share %.0f%%"|format(100 * p.control_share) if p.control_share else ", now switched off" }});
{{ "{:,}".format(p.groups.scored) }} were scored and shown. Leads are compared within the tier
they had when first scored. Intervals are 95%: Wilson for each rate, Newcombe for the difference.</p>
<table><tr><th>would-be tier</th><th>scored: converted / closed</th><th>rate (95%)</th>
<th>control: converted / closed</th><th>rate (95%)</th><th>difference (95%)</th><th>still open</th></tr>
{% for row in p.rows %}{% set s = row.scored_rate %}{% set c = row.control_rate %}{% set d = row.difference %}
<tr><td>{{ row.tier }}</td><td class="num">{{ row.scored[0] }} / {{ row.scored[1] }}</td>
<td class="num">{{ pct(s) }}</td><td class="num">{{ row.control[0] }} / {{ row.control[1] }}</td>
<td class="num">{{ pct(c) }}</td><td class="num">{{ diff(d) }}{{ " ✓" if row.measurable else "" }}</td>
<td class="num">{{ row.open_scored + row.open_control }}</td></tr>{% endfor %}</table>
<p class="note">✓: the interval excludes zero. Ranking quality on the control group alone, where
reps' actions cannot flatter it: ROC AUC {{ auc(p.auc_control) }} (scored group: {{ auc(p.auc_scored) }}).
{% if p.dated %}Median days from first score to conversion: scored {{ days(p.days.scored) }},
control {{ days(p.days.control) }}.{% else %}The CRM records no conversion date, so time to
conversion is not shown.{% endif %}</p></section>"""


def _pct(rate: tuple[float, float, float]) -> str:
    p, low, high = rate
    if p != p:  # nan: no closed leads
        return "—"
    return f"{100 * p:.1f}% ({100 * low:.1f}–{100 * high:.1f})"


def _diff(value: tuple[float, float, float]) -> str:
    d, low, high = value
    if d != d:
        return "—"
    return f"{100 * d:+.1f} pts ({100 * low:+.1f} to {100 * high:+.1f})"


def _auc(value: tuple[float | None, int]) -> str:
    auc, closed = value
    return "not yet (needs both outcomes)" if auc is None else f"{auc:.3f} on {closed:,} closed"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def render_pilot(report: PilotReport | None) -> Markup:
    """The section as HTML (empty without a control group)."""
    if report is None:
        return Markup("")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return Markup(env.from_string(TEMPLATE).render(p=report, pct=_pct, diff=_diff, auc=_auc,
                                                   days=_days))
