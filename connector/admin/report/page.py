"""The self-contained HTML model report: one file, inline CSS and SVG, no network, no script.

The first screen (``#summary``, from :mod:`connector.admin.report.summary`) says in plain
sentences whether the model is live and why, how much better its top 10 % convert, whether the
tiers order conversion, drift in one line, and every warning; the evidence follows, and the full
model card comes last, folded. A caller adds warnings through ``ReportInputs.warnings`` and
whole sections through ``ReportInputs.sections`` (shown before the folded card).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from connector.admin.report import charts, curves
from connector.admin.report.summary import first_screen


@dataclass(frozen=True)
class TierRow:
    """One tier on the holdout: size, mean predicted and observed conversion."""

    name: str
    count: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class ExtraSection:
    """A section a caller adds to the report: its anchor, title and (trusted) HTML body."""

    id: str
    title: str
    html: Markup


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, gathered by the caller (model dir, state store, CRM)."""

    connection: str
    crm: str
    generated_at: datetime
    card: dict
    holdout_y: Sequence[int]
    holdout_p: Sequence[float]
    tiers: Sequence[TierRow]
    current_scores: Sequence[int]
    drivers: Sequence[tuple[str, float]]
    drift: Sequence[tuple[str, float]]  # (name, PSI): the score first, then inputs by PSI
    runs: Sequence[dict] = field(default_factory=list)
    drift_note: str = ""
    attribution: str | None = None
    warnings: Sequence[str] = ()  # more warnings for the first screen (tier drift, leaks...)
    sections: Sequence[ExtraSection] = ()
    tier_shares: dict | None = None  # today's open leads per tier vs intended (tier_watch)
    config_dir: Path | None = None  # paths on the card are shown relative to it
    pilot: Markup = Markup("")  # the control-group section (connector.admin.report.pilot)
    headline: str | None = None  # its one plain sentence, shown first


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leadscore report: {{ r.connection }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#111827;background:#f8fafc}
header{background:#1e293b;color:#f8fafc;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cbd5e1}main{padding:20px 28px;max-width:1200px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;margin:0 0 18px}
h2{font-size:17px;margin:0 0 10px}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;align-items:start}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb}
th{background:#f1f5f9}.summary h2{font-size:20px}.summary h3{font-size:15px;margin:10px 0 4px}
.summary p{margin:4px 0;font-size:15px}.good{color:#166534}.bad{color:#b91c1c}ul#warnings{margin:0;padding-left:20px}
details{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 18px;margin:0 0 18px}
details summary{font-weight:600;cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}.chosen{font-weight:700}
svg.chart{width:100%;height:auto;background:#fff}svg .title{font-size:13px;font-weight:600}
svg .tick,svg .value,svg .legend,svg .axis-label{font-size:10px;fill:#374151}svg .legend{font-weight:600}
svg .axis{stroke:#6b7280}svg .grid{stroke:#eef2f7}svg .diagonal{stroke:#9ca3af;stroke-dasharray:4 3}
.note{color:#475569}.warn{color:#b45309}footer{padding:0 28px 24px;color:#64748b;font-size:12px}
</style></head><body>
<header><h1>Lead scoring report — {{ r.connection }} ({{ r.crm }})</h1>
<p>Model {{ card.get("version", "?") }} · generated {{ r.generated_at.strftime("%Y-%m-%d %H:%M UTC") }}</p></header>
<main>
<section id="summary" class="summary">
<h2 id="verdict" class="{{ 'good' if s.good else 'bad' }}">{{ s.verdict }}</h2>
<p id="headline">{{ s.headline }}</p>
{% if r.headline %}<p id="uplift"><strong>{{ r.headline }}</strong></p>{% endif %}
<p id="tier-order">{{ s.tier_order }}</p>
<p id="drift-line">{{ s.drift }}</p>
{% if s.warnings %}<h3>{{ s.warnings|length }} warning{{ 's' if s.warnings|length > 1 else '' }}</h3>
<ul id="warnings">{% for w in s.warnings %}<li class="warn">⚠ {{ w }}</li>{% endfor %}</ul>
{% else %}<p id="warnings" class="note">No warnings.</p>{% endif %}
</section>
{{ r.pilot }}
<section id="candidates"><h2>Candidates on the time-ordered holdout</h2><table>
<tr><th>model</th>{% for m in metric_names %}<th>{{ m }}</th>{% endfor %}</tr>
{% for name, metrics in candidates %}<tr class="{{ 'chosen' if name == chosen else '' }}"><td>{{ name }}{{ ' (chosen)' if name == chosen else '' }}</td>
{% for m in metric_names %}<td class="num">{{ fmt(metrics.get(m)) }}</td>{% endfor %}</tr>{% endfor %}
</table>{% for e in card.get("exclusions", []) %}<p class="warn">Not eligible: {{ e }}</p>{% endfor %}</section>
<section id="quality"><h2>How well the scores rank (holdout)</h2><div class="grid">
{{ roc }}{{ gain }}{{ lift }}{{ calibration }}</div></section>
<section id="tiers"><h2>Conversion by tier (holdout)</h2><div class="grid">{{ tier_chart }}
<table><tr><th>tier</th><th>leads</th><th>predicted</th><th>observed</th>{% if shares %}<th>open leads now</th><th>intended</th>{% endif %}</tr>
{% for t in r.tiers %}<tr><td>{{ t.name }}</td><td class="num">{{ t.count }}</td><td class="num">{{ "%.1f%%"|format(100*t.predicted) }}</td><td class="num">{{ "%.1f%%"|format(100*t.observed) }}</td>{% if shares %}<td class="num">{{ pct(shares.current.get(t.name)) }}</td><td class="num">{{ pct(shares.intended.get(t.name)) }}</td>{% endif %}</tr>{% endfor %}
</table></div></section>
<section id="scores"><h2>Current scores and what drives them</h2><div class="grid">{{ histogram }}{{ drivers }}</div></section>
<section id="drift"><h2>Drift against training (population stability index)</h2>
{% if r.drift_note %}<p class="note">{{ r.drift_note }}</p>{% endif %}
<p class="note">Below 0.1 stable · 0.1–0.25 moderate shift · above 0.25 major shift: consider retraining. Inputs are listed largest shift first.</p>
{% if r.drift %}<table><tr><th>score or input</th><th>PSI</th><th>reading</th></tr>{% for name, value in r.drift %}
<tr><td>{{ name }}</td><td class="num">{{ "%.3f"|format(value) }}</td><td>{{ drift_word(value) }}</td></tr>{% endfor %}</table>
{% else %}<p class="note">No open leads to compare yet.</p>{% endif %}</section>
<section id="history"><h2>Sync history</h2>{% if r.runs %}<table><tr>{% for k in run_keys %}<th>{{ k }}</th>{% endfor %}</tr>
{% for run in r.runs %}<tr>{% for k in run_keys %}<td>{{ run.get(k, "") }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p class="note">No sync has run yet.</p>{% endif %}</section>
{% for extra in r.sections %}<section id="{{ extra.id }}"><h2>{{ extra.title }}</h2>{{ extra.html }}</section>{% endfor %}
<details id="card"><summary>Full model card</summary><table>
{% for key, value in facts %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
</table></details>
</main><footer>{% if r.attribution %}{{ r.attribution }}<br>{% endif %}Generated by leadscore; no data left this machine.</footer>
</body></html>"""

RUN_KEYS = ("started_at", "kind", "outcome", "pulled", "scored", "written", "unchanged",
            "failed", "api_calls")


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _drift_word(value: float) -> str:
    value = round(value, 3)  # read the figure as shown, so "0.250" never says "major shift"
    return "stable" if value < 0.1 else "moderate shift" if value <= 0.25 else "major shift"


def plain_label(label: str | None, field: str) -> str:
    """A mapping label without its ``{value}`` slot ("Age {value}" -> "Age"), else the field."""
    text = (label or "").replace("{value}", "").strip(" :·-")
    return text or field


def _relative(path: str, config_dir: Path | None) -> str:
    """``path`` relative to the config's folder (as the admin wrote it), else unchanged."""
    if config_dir is None or not os.path.isabs(path):
        return path
    try:
        return os.path.relpath(path, config_dir)
    except ValueError:  # another drive
        return path


def _facts(card: dict, config_dir: Path | None = None) -> list[tuple[str, str]]:
    skip = {"candidates", "warnings", "features", "tiers", "metrics", "vocabulary", "holdout"}
    facts = []
    for key, value in card.items():
        if key == "mapping" and isinstance(value, str):
            facts.append(("mapping", _relative(value, config_dir)))
            continue
        if key in skip or isinstance(value, list):
            continue
        if isinstance(value, dict):  # one level of nesting, e.g. counts or the data window
            facts += [(f"{key} {sub}".replace("_", " "), _fmt(v)) for sub, v in value.items()
                      if not isinstance(v, (dict, list))]
        else:
            facts.append((key.replace("_", " "), _fmt(value)))
    if card.get("features"):
        names = [plain_label(f.get("label"), f.get("field", "?")) if isinstance(f, dict)
                 else str(f) for f in card["features"]]
        facts.append(("features", ", ".join(names)))
    return facts


def _holdout_charts(r: ReportInputs) -> dict[str, str]:
    if len(set(r.holdout_y)) < 2:
        note = ('<p class="note">No holdout predictions were saved with this model; '
                'retrain to see these charts.</p>')
        return dict.fromkeys(("roc", "gain", "lift", "calibration"), note)
    fpr, tpr = curves.roc_points(r.holdout_y, r.holdout_p)
    gx, gy = curves.gain_points(r.holdout_y, r.holdout_p)
    lx, ly = curves.lift_points(r.holdout_y, r.holdout_p)
    cp, co = curves.calibration_points(r.holdout_y, r.holdout_p)
    top = max([*cp, *co, 0.01])
    return {
        "roc": charts.line_chart("ROC curve", [charts.Series("model", fpr, tpr)],
                                 x_label="false positive rate", y_label="true positive rate",
                                 y_max=1.0, diagonal=True),
        "gain": charts.line_chart("Cumulative gain", [charts.Series("model", gx, gy)],
                                  x_label="share of leads, best scores first",
                                  y_label="share of conversions", y_max=1.0, diagonal=True),
        "lift": charts.line_chart("Lift", [charts.Series("model", lx, ly)],
                                  x_label="share of leads, best scores first", y_label="lift"),
        "calibration": charts.line_chart("Calibration", [charts.Series("model", cp, co)],
                                         x_label="predicted conversion", y_label="observed",
                                         x_max=top, y_max=top, diagonal=True)}


def _charts(r: ReportInputs) -> dict[str, Markup]:
    counts = [0] * 10
    for score in r.current_scores:
        counts[min(int(score) // 10, 9)] += 1
    total = max(len(r.current_scores), 1)
    made = {
        **_holdout_charts(r),
        "tier_chart": charts.bar_chart(
            "Predicted vs observed conversion", [t.name for t in r.tiers],
            [t.predicted for t in r.tiers], second=[t.observed for t in r.tiers],
            y_label="conversion rate", legend=("predicted", "observed")),
        "histogram": charts.bar_chart(
            "Score distribution (current)", [f"{10 * i}-{10 * i + 9}" for i in range(10)],
            [c / total for c in counts], y_label="share of leads", value_format="{:.0%}"),
        "drivers": charts.horizontal_bars("What drives scores overall",
                                          [d[0] for d in r.drivers], [d[1] for d in r.drivers]),
    }
    return {name: Markup(svg) for name, svg in made.items()}


def render_report(r: ReportInputs) -> str:
    """The report as one self-contained HTML document."""
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    candidates = [(row.get("name", "?"), row) for row in r.card.get("candidates") or []]
    metric_names = sorted({m for _, row in candidates for m, v in row.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)})
    screen = first_screen(r.card, r.tiers, r.drift, extra_warnings=r.warnings)
    return env.from_string(TEMPLATE).render(
        r=r, s=screen, shares=r.tier_shares, pct=_pct, card=r.card,
        facts=_facts(r.card, r.config_dir), candidates=candidates,
        metric_names=metric_names, chosen=r.card.get("chosen"), fmt=_fmt,
        drift_word=_drift_word, run_keys=RUN_KEYS, **_charts(r))
