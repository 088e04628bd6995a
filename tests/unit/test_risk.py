"""The risk formula's edge cases, pinned."""

import pytest

from aiva.enums import BusinessCriticality, Environment, RiskLevel, Severity
from aiva.risk import AssetContext, ThreatIntel, score_finding


def test_cvss_wins_over_severity() -> None:
    assert score_finding(4.2, Severity.CRITICAL).score == 4.2


def test_severity_fallback_without_cvss() -> None:
    assert score_finding(None, Severity.CRITICAL).score == 9.5
    assert score_finding(None, Severity.INFO).level is RiskLevel.NONE


def test_score_is_capped_at_ten() -> None:
    r = score_finding(9.8, Severity.CRITICAL, ThreatIntel(in_kev=True),
                      AssetContext(BusinessCriticality.CRITICAL, True, Environment.PRODUCTION))
    assert r.score == 10.0 and r.level is RiskLevel.CRITICAL


def test_kev_on_exposed_critical_asset_outranks_higher_cvss_internal() -> None:
    kev = score_finding(6.5, Severity.MEDIUM, ThreatIntel(in_kev=True),
                        AssetContext(BusinessCriticality.CRITICAL, True, Environment.PRODUCTION))
    internal = score_finding(8.8, Severity.HIGH, ThreatIntel(epss=0.01),
                             AssetContext(BusinessCriticality.LOW, False, Environment.DEVELOPMENT))
    assert kev.score > internal.score


@pytest.mark.parametrize("epss, factor", [(0.0, 1.0), (1.0, 1.5), (2.0, 1.5), (-1.0, 1.0)])
def test_epss_factor_is_clamped(epss: float, factor: float) -> None:
    assert score_finding(5.0, Severity.MEDIUM, ThreatIntel(epss=epss)).exploit_factor == factor


def test_levels_follow_cvss_cut_points() -> None:
    assert [RiskLevel.from_score(s) for s in (9.0, 8.99, 7.0, 4.0, 3.9, 0.1, 0.0)] == [
        RiskLevel.CRITICAL, RiskLevel.HIGH, RiskLevel.HIGH, RiskLevel.MEDIUM, RiskLevel.LOW, RiskLevel.LOW,
        RiskLevel.NONE]
