"""The report's first screen: verdict, headline, tier order, drift line and every warning."""

from dataclasses import replace
from pathlib import Path

from connector.admin.report.page import TierRow, render_report
from connector.admin.report.summary import drift_line, first_screen, headline, tier_order, verdict
from tests.report.test_report_page import _inputs

DEMO_TIERS = [TierRow("Hot", 824, 0.2, 0.173), TierRow("Warm", 1648, 0.1, 0.082),
              TierRow("Cool", 2472, 0.05, 0.046), TierRow("Cold", 3296, 0.02, 0.137)]


def test_verdict_says_whether_the_model_is_live_and_why():
    assert verdict({"version": "v0002", "promoted": True, "decision": "beats the points rule"}) \
        == ("Model v0002 is live: it was promoted (beats the points rule).", True)
    said, good = verdict({"version": "v0003", "promoted": False,
                          "decision": "holdout ROC AUC 0.70 does not beat the admin baseline"})
    assert not good and said.startswith("Model v0003 was NOT promoted: holdout ROC AUC")


def test_headline_compares_the_top_decile_with_the_points_rule():
    card = {"holdout": {"lift_top_decile": 3.14},
            "baseline": {"kind": "points rule", "lift_top_decile": 1.81}}
    assert headline(card) == ("On the newest closed leads (the holdout), the 10% with the best "
                              "scores converted 3.1× the average; the points rule reached 1.8×.")
    assert headline({"holdout": {"lift_top_decile": 2.0}}).endswith(
        "no baseline is configured to compare with.")


def test_the_demo_s_tiers_that_do_not_fall_from_hot_to_cold_raise_a_warning():
    sentence, warning = tier_order(DEMO_TIERS)
    assert sentence == ("On the holdout, conversion does NOT fall from Hot to Cold: Hot 17.3%, "
                        "Warm 8.2%, Cool 4.6%, Cold 13.7%.")
    assert warning.startswith(sentence) and "retrain" in warning
    assert tier_order(DEMO_TIERS[:3])[1] is None


def test_drift_in_one_line_and_a_warning_per_major_shift():
    line, warnings = drift_line([("Score", 0.04), ("Age", 0.31), ("Job", 0.12)])
    assert line == ("Drift against training: scores stable (PSI 0.04); largest input shift Age "
                    "(PSI 0.31, a major shift).")
    assert warnings == ["Major drift since training (PSI above 0.25) in Age (0.31): today's open "
                        "leads differ from those the model learned from; consider retraining."]
    assert drift_line([("Score", 0.5), ("Age", 0.31)])[1][0].startswith(
        "Major drift since training (PSI above 0.25) in Score (0.50), Age (0.31):")
    assert drift_line([]) == ("Drift: no open leads to compare yet.", [])


def test_every_warning_is_gathered_once_on_the_first_screen():
    card = {"version": "v1", "promoted": True, "decision": "ok", "warnings": ["leak: X", "leak: X"]}
    screen = first_screen(card, DEMO_TIERS, [("Score", 0.3)], extra_warnings=["tier Hot holds 45%"])
    assert len(screen.warnings) == 4
    assert screen.warnings[0].startswith("On the holdout, conversion does NOT fall")
    assert screen.warnings[1].startswith("Major drift since training (PSI above 0.25) in Score")
    assert screen.warnings[2:] == ["tier Hot holds 45%", "leak: X"]


def test_the_page_opens_on_the_summary_and_folds_the_card_with_relative_paths(tmp_path):
    card = {**_inputs().card, "mapping": str(tmp_path / "mappings" / "lead.yaml"),
            "libraries": {"numpy": "2.0"}, "calibration": {"intercept": -1.2}}
    html = render_report(replace(_inputs(), card=card, tiers=DEMO_TIERS, config_dir=tmp_path,
                                 warnings=["tier Hot holds 45% of today's open leads"]))
    main = html[html.index("<main>"):]
    assert main.index('id="summary"') < main.index('id="candidates"') < main.index('id="card"')
    assert '<details id="card"><summary>Full model card</summary>' in html
    assert "<td>" + str(Path("mappings") / "lead.yaml") + "</td>" in html
    assert str(tmp_path) not in html
    summary = html[html.index('id="summary"'):html.index("</section>", html.index('id="summary"'))]
    assert "conversion does NOT fall from Hot to Cold" in summary
    assert "tier Hot holds 45% of today&#39;s open leads" in summary
    assert "Leadscore" not in summary and "intercept" not in summary
