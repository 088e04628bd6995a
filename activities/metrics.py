"""Prometheus metrics of the worker (prometheus-client), served on AIVA_METRICS_PORT when set.

Temporal's own SDK metrics (task latencies, poller counts, activity failures) are served by the
SDK runtime on AIVA_METRICS_PORT + 1 (see worker.connect_temporal).
"""

from __future__ import annotations

from prometheus_client import Counter, start_http_server

FINDINGS_INGESTED = Counter("aiva_findings_ingested", "Findings stored by the scan stage", ["format"])
REPORTS_INGESTED = Counter("aiva_reports_ingested", "Reports (or scanner runs) ingested", ["format", "outcome"])
TRANSITIONS = Counter("aiva_lifecycle_transitions", "Lifecycle outcomes of analysed runs", ["change"])
TICKETS = Counter("aiva_tickets", "Remediation ticket actions", ["integration", "action"])


def serve(port: int) -> None:
    """Expose the metrics on 0.0.0.0:port (a background thread)."""
    start_http_server(port)
