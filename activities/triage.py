"""Triage: record a decision as a rule and apply it to the product's findings at once."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from aiva.contracts import TriageResult
from aiva.store import triage as triage_store
from aiva.store.reconcile import lock_product
from aiva.triage import TriageDecision


async def record_and_apply(conn: asyncpg.Connection, decision: TriageDecision) -> TriageResult:
    """Store the rule and apply every live rule of the product (one transaction, product locked)."""
    async with conn.transaction():
        try:
            rule_id = await triage_store.add_rule(conn, decision)
        except LookupError as e:
            raise ApplicationError(str(e), type="InputError", non_retryable=True) from e
        product_id: int = await conn.fetchval("SELECT id FROM products WHERE name = $1", decision.product)
        await lock_product(conn, product_id)
        counts = await triage_store.apply_rules(conn, product_id, None)
    return TriageResult(rule_id=rule_id, **counts)


class TriageActivities:
    """The activity behind the pipeline's `triage` update."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="apply_triage")
    async def apply_triage(self, decision: TriageDecision) -> TriageResult:
        """Record the decision and apply it."""
        async with self._pool.acquire() as conn:
            return await record_and_apply(conn, decision)
