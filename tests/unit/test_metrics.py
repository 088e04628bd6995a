"""The worker's Prometheus counters move when activities do their work."""

from prometheus_client import REGISTRY

from activities import metrics


def test_counters_are_registered_and_count() -> None:
    before = REGISTRY.get_sample_value("aiva_tickets_total", {"integration": "webhook", "action": "opened"}) or 0
    metrics.TICKETS.labels("webhook", "opened").inc()
    after = REGISTRY.get_sample_value("aiva_tickets_total", {"integration": "webhook", "action": "opened"})
    assert after == before + 1
