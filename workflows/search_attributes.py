"""Custom search attributes AIVA upserts on runs, so runs are filterable in the Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PRODUCT = SearchAttributeKey.for_keyword("AivaProduct")
STAGE = SearchAttributeKey.for_keyword("AivaStage")
OUTCOME = SearchAttributeKey.for_keyword("AivaOutcome")
FINDINGS = SearchAttributeKey.for_int("AivaFindings")
CRITICAL = SearchAttributeKey.for_int("AivaCritical")
HIGH = SearchAttributeKey.for_int("AivaHigh")

ALL = [PRODUCT, STAGE, OUTCOME, FINDINGS, CRITICAL, HIGH]


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    out: list[str] = []
    for key in ALL:
        kind = "Keyword" if key.indexed_value_type.name.endswith("KEYWORD") else "Int"
        out += ["--search-attribute", f"{key.name}={kind}"]
    return out
