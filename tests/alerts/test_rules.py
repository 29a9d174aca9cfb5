"""Rules against the hand-worked company of ``company.py``: what fires, for whom, and why."""

from __future__ import annotations

from datetime import date

import pytest

from csmetrics.alerts.rulebook import AlertsConfig, default_alerts
from csmetrics.alerts.rules import renewal_date
from csmetrics.errors import ConfigError
from tests.alerts.company import RULES, D, load_company


@pytest.fixture
def company(ws):
    load_company(ws)
    return ws


def fired(ws, rule, as_of=D):
    outcome = ws.evaluate_rules(as_of, rules=[rule], dry_run=True)
    return {f.subject: f for f in outcome.firings}


def test_drop_over_four_weeks(company):
    # A 40 -> 10 is -75 %; B -90 % but from 10 < min_before 20; C -17 %
    firings = fired(company, "usage-drop")
    assert set(firings) == {"Acme"}
    acme = firings["Acme"]
    assert acme.owner == "Ann" and acme.customer_id == "A"
    assert acme.figures["before"] == 40 and acme.figures["value"] == 10
    assert acme.figures["change"] == pytest.approx(-0.75)
    assert acme.reason == "usage_volume fell from 40 to 10 (-75%) in 28 days"
    assert acme.key == "usage-drop|A"


def test_band_change_green_to_red(company):
    # A 100 (green) -> 25 (red); B red -> red; C green -> yellow
    firings = fired(company, "turned-red")
    assert set(firings) == {"Acme"}
    figures = firings["Acme"].figures
    assert (figures["band_before"], figures["band"]) == ("green", "red")
    assert figures["score_before"] == pytest.approx(100) and figures["score"] == pytest.approx(25)


def test_threshold_per_account_with_where(company):
    # MRR in March: A 100, C 50 on pro; B 100 and X 80 are basic. C has no owner: default.
    firings = fired(company, "small-pro")
    assert set(firings) == {"Cyan"}
    assert firings["Cyan"].figures["value"] == 50
    assert firings["Cyan"].owner == "Head of CS"


def test_threshold_per_segment(company):
    # March MRR by plan: pro 100 + 50 = 150, basic 100 + 80 = 180 -> neither below 120 ...
    assert fired(company, "plan-mrr") == {}
    # ... but below 160, basic 180 is not and pro 150 is
    rules = RULES.replace("value = 120", "value = 160")
    (company.root / "alerts.toml").write_text(rules, encoding="utf-8")
    firings = fired(company, "plan-mrr")
    assert set(firings) == {"plan=pro"}
    pro = firings["plan=pro"]
    assert pro.figures["value"] == 150 and pro.customer_id is None
    assert pro.owner == "Head of CS" and pro.key == "plan-mrr|plan=pro"


def test_nps_detractor_in_the_lookback(company):
    firings = fired(company, "detractor")
    assert set(firings) == {"Acme"}  # C's 5 was 21 days ago, B's 7 is passive
    acme = firings["Acme"]
    assert acme.key == "detractor|A|R1"
    assert acme.figures["score"] == 3 and acme.figures["comment"] == "Reports keep timing out"
    # seen from 03-11, C's answer of 03-10 is no longer in the last 7 days either, but
    # from 03-16 it is
    assert set(fired(company, "detractor", date(2025, 3, 16))) == {"Cyan"}


def test_reopened_ticket(company):
    firings = fired(company, "reopened")
    assert set(firings) == {"Acme"}
    assert firings["Acme"].figures["ticket_id"] == "T1"
    assert firings["Acme"].key == "reopened|A|T1@2025-03-30"


def test_renewals(company):
    # B's annual plan renews on 2025-05-15 (45 days), C's contract ends 2025-04-20 (20 days);
    # X cancelled: not a renewal; A is monthly: nothing to prepare
    firings = fired(company, "renewal")
    assert {s: f.figures["renews_on"] for s, f in firings.items()} == {
        "Beta": "2025-05-15", "Cyan": "2025-04-20"}
    assert firings["Beta"].figures["days_left"] == 45


def test_employee_rating_drop(company):
    # last complete week before Monday 03-31 is 03-24..03-30: Eve 4.5 -> 3.0, Finn 4.0 -> 3.5
    firings = fired(company, "employee")
    assert set(firings) == {"Eve"}
    eve = firings["Eve"]
    assert eve.figures["rating"] == 3.0 and eve.figures["before"] == 4.5
    assert eve.owner == "Head of CS" and eve.key == "employee|Eve|2025-03-24"


def test_nothing_known_after_the_evaluation_date(company):
    # as of 03-27 the detractor answer (03-28) and the reopening (03-30) were not known yet
    assert fired(company, "detractor", date(2025, 3, 27)) == {}
    assert fired(company, "reopened", date(2025, 3, 27)) == {}


@pytest.mark.parametrize(("start", "end", "interval", "today", "expected"), [
    (date(2024, 5, 15), None, "year", date(2025, 3, 31), date(2025, 5, 15)),
    (date(2024, 2, 29), None, "year", date(2025, 1, 1), date(2025, 2, 28)),  # leap day
    (date(2024, 3, 31), None, "year", date(2025, 3, 31), date(2026, 3, 31)),  # today: next one
    (date(2024, 1, 1), date(2025, 6, 1), "month", date(2025, 3, 31), date(2025, 6, 1)),
    (date(2024, 1, 1), None, "month", date(2025, 3, 31), None),
])
def test_renewal_date(start, end, interval, today, expected):
    assert renewal_date(start, end, interval, today) == expected


def test_default_rules_are_valid_and_name_their_playbooks():
    alerts = default_alerts()
    assert {r.name for r in alerts.rules} >= {"turned-red", "usage-down-30", "nps-detractor",
                                              "ticket-reopened", "renewal-in-60-days"}
    assert all(r.playbook in alerts.playbooks for r in alerts.rules)


@pytest.mark.parametrize(("text", "message"), [
    ('[[rules]]\nname = "x"\nkind = "threshold"\nsignal = "health_score"\nvalue = 40\n'
     'playbook = "nope"\n', "names playbook 'nope', which is not defined"),
    ('[playbooks.p]\ntitle = "P"\nsteps = [{ title = "s" }]\n[[rules]]\nname = "x"\n'
     'kind = "threshold"\nsignal = "health_scor"\nvalue = 1\nplaybook = "p"\n',
     "unknown signal 'health_scor'"),
    ('[playbooks.p]\ntitle = "P"\nsteps = [{ title = "s" }]\n[[rules]]\nname = "x"\n'
     'kind = "drop"\nsignal = "active_users"\nplaybook = "p"\n', "a drop rule needs 'drop'"),
    ('[playbooks.p]\ntitle = "P"\nsteps = [{ title = "s" }]\n[[rules]]\nname = "x"\n'
     'kind = "threshold"\nsignal = "metric:nps"\nvalue = 1\nscope = "segment"\n'
     'playbook = "p"\n', "needs 'by'"),
    ('[playbooks.p]\ntitle = "P"\nsteps = [{ title = "s" }]\n[[rules]]\nname = "x"\n'
     'kind = "threshold"\nsignal = "metric:nsp"\nvalue = 1\nplaybook = "p"\n',
     "no metric named 'nsp'"),
    ('[playbooks.p]\ntitle = "P"\nsteps = []\n', "playbooks.p.steps"),
    ('[[rules]]\nname = "x"\nkind = "threshold"\nsignal = "health_score"\nvalue = 4\n'
     'playbook = "p"\ncolour = "red"\n', "rules.0.colour: unknown key"),
])
def test_bad_rules_files_name_the_problem(text, message):
    with pytest.raises(ConfigError) as error:
        AlertsConfig.from_text(text, "alerts.toml")
    assert message in str(error.value) and "alerts.toml" in str(error.value)


def test_unknown_where_column_is_named(company):
    rules = RULES.replace('where = { plan = "pro" }', 'where = { tier = "pro" }')
    (company.root / "alerts.toml").write_text(rules, encoding="utf-8")
    with pytest.raises(ConfigError, match="where.tier: the customers table has no column"):
        fired(company, "small-pro")


def test_threshold_on_a_health_component(company):
    # the scorecard's one component 'usage' gives A 25, B 2.5, C 62.5 and X 0 points
    rules = RULES.replace('signal = "metric:mrr"\nop = "<"\nvalue = 75',
                          'signal = "health:usage"\nop = "<"\nvalue = 30', 1)
    (company.root / "alerts.toml").write_text(rules.replace('where = { plan = "pro" }\n', "", 1),
                                              encoding="utf-8")
    firings = fired(company, "small-pro")
    assert {s: f.figures["value"] for s, f in firings.items()} == {"Acme": 25.0, "Beta": 2.5,
                                                                    "Exit": 0.0}
    (company.root / "alerts.toml").write_text(rules.replace("health:usage", "health:usge"),
                                              encoding="utf-8")
    with pytest.raises(ConfigError, match="no component 'usge'; use one of health:usage"):
        fired(company, "small-pro")
