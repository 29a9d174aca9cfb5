"""The scorecard file: the default parses, bad configs name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from csmetrics.errors import ConfigError
from csmetrics.health import Scorecard, default_scorecard, load_scorecard
from csmetrics.health.scorecard import DEFAULT_SCORECARD, SIGNALS

GOOD = """
[components.usage_trend]
weight = 1
linear = [[-1, 0], [0, 100]]
"""


def test_the_default_covers_every_builtin_signal_but_raw_user_counts() -> None:
    # raw user and usage counts depend on company size (usage_volume is there for alert
    # rules' drops); text sentiment needs texts scored by the voice module and overlaps
    # csm_sentiment: they are there to add, not in the default
    card = default_scorecard()
    assert {c.signal for c in card.components.values()} == (
        set(SIGNALS) - {"active_users", "usage_volume", "comment_sentiment"})
    assert round(sum(card.weights().values()), 9) == 1
    assert card.bands.band(39.9) == "red"
    assert card.bands.band(40) == "yellow"
    assert card.bands.band(70) == "green"
    assert card.bands.band(None) == "unknown"


def test_a_missing_file_means_the_default_and_a_present_one_is_read(tmp_path: Path) -> None:
    assert load_scorecard(tmp_path / "health.toml") == default_scorecard()
    (tmp_path / "health.toml").write_text(GOOD, encoding="utf-8")
    assert list(load_scorecard(tmp_path / "health.toml").components) == ["usage_trend"]
    (tmp_path / "health.toml").write_text(DEFAULT_SCORECARD, encoding="utf-8")
    assert load_scorecard(tmp_path / "health.toml") == default_scorecard()


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("weight = 1", "weight = 1\nwieght = 2"),
     "components.usage_trend.wieght: unknown key; remove it or check its spelling"),
    (GOOD + "[bands]\nred = 30\n", "bands.red: unknown key"),
    (GOOD.replace("weight = 1", "weight = -5"),
     "components.usage_trend.weight = -5: a weight is the component's share of the score and "
     "must be above 0; give it a positive number such as 10, or remove the component"),
    (GOOD.replace("weight = 1", "weight = 0"), "components.usage_trend.weight = 0"),
    (GOOD.replace("weight = 1\n", ""), "components.usage_trend.weight"),
    (GOOD.replace("[[-1, 0], [0, 100]]", "[[0, 100], [-1, 0]]"),
     "components.usage_trend.linear = [[0, 100], [-1, 0]]: values must increase from pair to "
     "pair, got [0.0, -1.0]; sort the pairs"),
    (GOOD.replace("[[-1, 0], [0, 100]]", "[[-1, 0], [0, 150]]"),
     "components.usage_trend.linear = [[-1, 0], [0, 150]]: points must be from 0 to 100"),
    (GOOD.replace("linear = [[-1, 0], [0, 100]]", ""),
     "components.usage_trend = {'signal': 'usage_trend', 'weight': 1}: give exactly one "
     "mapping to points: 'thresholds = [[at_least, points], ...]'"),
    (GOOD + "thresholds = [[0, 1]]\n", "give exactly one mapping to points"),
    (GOOD.replace("weight = 1", "weight = 1\nsignal = 'usage_trends'"),
     "components.usage_trend.signal = 'usage_trends': unknown signal Did you mean "
     "'usage_trend'?"),
    (GOOD.replace("weight = 1", "weight = 1\nsignal = 'metric:nsp'"),
     "There is no metric 'nsp'. Did you mean 'nps'?"),
    (GOOD.replace("weight = 1", "weight = 1\nsignal = 'metric:feature_adoption'"),
     "metric 'feature_adoption' has no single value per customer"),
    (GOOD.replace("weight = 1", "weight = 1\nmissing = 'ignore'"),
     "components.usage_trend.missing"),
    (GOOD.replace("weight = 1", "weight = 1\nmissing = 120"),
     "must be 'skip', 'neutral' or points from 0 to 100"),
    (GOOD + "[bands]\nred_below = 80\ngreen_from = 60\n",
     "bands = {'red_below': 80, 'green_from': 60}: red_below (80) must not be above "
     "green_from (60)"),
    (GOOD + "[bands]\ngreen_from = 120\n", "bands.green_from = 120"),
    ("[components]\n", "components = {}: the scorecard needs at least one component"),
    (GOOD.replace("[components.usage_trend]", "[components.nps]\nsignal = 'nps_latest'\n"
                  "window_days = 30"), "signal 'nps_latest' has no window; remove window_days"),
    (GOOD.replace("weight = 1", "weight = 1\nsignal = 'metric:mrr'\nwindow_days = 30"),
     "signal 'metric:mrr' has no window; remove window_days"),
])
def test_bad_configs_name_the_key_and_the_fix(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Scorecard.from_text(text, "health.toml")
    message = str(caught.value)
    assert message.startswith("health.toml: ")
    assert expected in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "health.toml"
    path.write_text("[components.x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="health.toml: not valid TOML"):
        load_scorecard(path)
