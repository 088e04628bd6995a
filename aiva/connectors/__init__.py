"""Remediation connectors. Each takes an `httpx.AsyncClient` (injected by the worker),
so tests swap the transport, never the client code."""
