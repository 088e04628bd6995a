"""Analysis-stage writes: dedupe the run's findings and apply lifecycle transitions.

Set-based: the run's distinct fingerprints are matched against the product's
stored findings in a few statements; only (fingerprint, status) pairs come into
Python, where `aiva.lifecycle` decides each transition. One transaction, under an
advisory lock per product so two runs of one product never interleave. The result
is stored on the run row, so a retry returns it instead of applying twice.
"""

from __future__ import annotations

import asyncpg
import orjson

from aiva import lifecycle
from aiva.contracts import AnalysisResult
from aiva.enums import OPEN_STATUS_VALUES, VulnerabilityStatus
from aiva.store.triage import apply_rules

UNSPECIFIED_ASSET = "(unspecified)"
SAGA_ACTOR = "aiva-saga"


async def lock_product(conn: asyncpg.Connection, product_id: int) -> None:
    """Serialise lifecycle changes of one product (held until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('aiva-product'), $1::int)", product_id)


async def product_id_of_run(conn: asyncpg.Connection, run_id: str) -> int | None:
    """The product a run belongs to (None when the run never ingested anything)."""
    pid: int | None = await conn.fetchval("SELECT product_id FROM runs WHERE run_id = $1", run_id)
    return pid


async def analyze_run(conn: asyncpg.Connection, run_id: str) -> AnalysisResult:
    """Reconcile the run's findings with the product's stored state (idempotent per run)."""
    async with conn.transaction():
        product_id = await product_id_of_run(conn, run_id)
        if product_id is None:
            return AnalysisResult(total=0, new=0, active=0, reopened=0, mitigated=0, unchanged=0)
        await lock_product(conn, product_id)
        done = await conn.fetchval("SELECT analysis FROM runs WHERE run_id = $1", run_id)
        if done is not None:
            return AnalysisResult.model_validate_json(done)

        await conn.execute(
            """
            CREATE TEMP TABLE incoming ON COMMIT DROP AS
            SELECT DISTINCT ON (sf.fingerprint)
                   sf.fingerprint, sf.tool, COALESCE(sf.target, s.declared_target, $2) AS target,
                   sf.severity, sf.data, s.complete,
                   count(*) OVER (PARTITION BY sf.fingerprint) AS occurrences
            FROM scan_findings sf JOIN scans s ON s.id = sf.scan_id
            WHERE s.run_id = $1
            ORDER BY sf.fingerprint, sf.scan_id, sf.ord
            """,
            run_id, UNSPECIFIED_ASSET,
        )
        await conn.execute("CREATE INDEX ON incoming(fingerprint)")
        await conn.execute("ANALYZE incoming")
        await conn.execute(
            """
            INSERT INTO assets(product_id, name)
            SELECT DISTINCT $1::bigint, target FROM incoming
            UNION SELECT DISTINCT $1::bigint, declared_target FROM scans
                  WHERE run_id = $2 AND declared_target IS NOT NULL
            ON CONFLICT (product_id, name) DO NOTHING
            """,
            product_id, run_id,
        )
        await conn.execute(
            """
            CREATE TEMP TABLE scopes ON COMMIT DROP AS
            SELECT DISTINCT a.id AS asset_id, i.tool
              FROM incoming i JOIN assets a ON a.product_id = $1 AND a.name = i.target
             WHERE i.complete
            UNION
            SELECT a.id, s.declared_tool
              FROM scans s JOIN assets a ON a.product_id = s.product_id AND a.name = s.declared_target
             WHERE s.run_id = $2 AND s.complete AND s.declared_tool IS NOT NULL
            """,
            product_id, run_id,
        )

        seen = await conn.fetch(
            """
            SELECT i.fingerprint, f.id, f.status
              FROM incoming i LEFT JOIN findings f ON f.product_id = $1 AND f.fingerprint = i.fingerprint
            """,
            product_id,
        )
        missing = await conn.fetch(
            """
            SELECT f.id, f.status FROM findings f
              JOIN scopes sc ON sc.asset_id = f.asset_id AND sc.tool = f.tool
             WHERE f.product_id = $1 AND f.status = ANY($2::text[])
               AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.fingerprint = f.fingerprint)
            """,
            product_id, list(OPEN_STATUS_VALUES),
        )

        # (finding id, from, to, reason, fingerprint: set for a finding this run saw)
        decisions: list[tuple[int, str, str, str, str | None]] = []
        new = 0
        for row in seen:
            if row["id"] is None:
                new += 1
                continue
            before = VulnerabilityStatus(row["status"])
            t = lifecycle.on_seen(before)
            if t is not None:
                decisions.append((row["id"], before.value, t.to_status.value, t.reason, row["fingerprint"]))
        for row in missing:
            before = VulnerabilityStatus(row["status"])
            t = lifecycle.on_missing(before, in_scope=True, scan_complete=True)
            if t is not None:
                decisions.append((row["id"], before.value, t.to_status.value, t.reason, None))

        await conn.execute(
            """
            INSERT INTO findings (product_id, asset_id, fingerprint, tool, format, category, rule_id, title,
                                  severity, cvss_score, status, occurrences, first_seen_run, last_seen_run, data)
            SELECT $1, a.id, i.fingerprint, i.tool, i.data->>'format', i.data->>'category', i.data->>'rule_id',
                   i.data->>'title', i.severity,
                   COALESCE((i.data->'cvss_v3'->>'base_score')::real, (i.data->'cvss_v4'->>'base_score')::real),
                   'new', i.occurrences, $2, $2, i.data
              FROM incoming i JOIN assets a ON a.product_id = $1 AND a.name = i.target
             WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE f.product_id = $1 AND f.fingerprint = i.fingerprint)
            """,
            product_id, run_id,
        )
        await conn.execute(
            """
            INSERT INTO finding_events(finding_id, run_id, from_status, to_status, reason, actor)
            SELECT id, $2, NULL, 'new', 'first seen', 'scan' FROM findings
             WHERE product_id = $1 AND first_seen_run = $2
            """,
            product_id, run_id,
        )
        # What the update below overwrites, kept until the run completes: compensation puts it back.
        await conn.execute(
            """
            INSERT INTO seen_undo(run_id, finding_id, last_seen_run, last_seen_at, occurrences, data)
            SELECT $2, f.id, f.last_seen_run, f.last_seen_at, f.occurrences,
                   CASE WHEN f.data IS DISTINCT FROM i.data THEN f.data END
              FROM incoming i JOIN findings f ON f.product_id = $1 AND f.fingerprint = i.fingerprint
             WHERE f.first_seen_run <> $2 AND f.last_seen_run <> $2
            ON CONFLICT DO NOTHING
            """,
            product_id, run_id,
        )
        await conn.execute(
            "CREATE TEMP TABLE decisions (finding_id bigint PRIMARY KEY, from_status text, to_status text,"
            " reason text, fingerprint text UNIQUE) ON COMMIT DROP"
        )
        if decisions:
            await conn.copy_records_to_table("decisions", records=decisions)
            await conn.execute("ANALYZE decisions")
        # A finding seen again takes its new status in the same write as its new sighting: each UPDATE
        # of a findings row rewrites it and every index (status and last_seen_run are indexed), so
        # two writes for the re-seen ones doubled the re-scan's heaviest statement.
        await conn.execute(
            """
            UPDATE findings f SET last_seen_run = $2, last_seen_at = now(), data = i.data, title = i.data->>'title',
                   severity = i.severity, occurrences = i.occurrences,
                   status = coalesce(d.to_status, f.status),
                   status_changed_at = CASE WHEN d.to_status IS NULL THEN f.status_changed_at ELSE now() END
              FROM incoming i LEFT JOIN decisions d ON d.fingerprint = i.fingerprint
             WHERE f.product_id = $1 AND f.fingerprint = i.fingerprint AND f.first_seen_run <> $2
            """,
            product_id, run_id,
        )
        if decisions:
            await conn.execute(
                "UPDATE findings f SET status = d.to_status, status_changed_at = now()"
                " FROM decisions d WHERE f.id = d.finding_id AND d.fingerprint IS NULL"  # the re-seen: above
            )
            await conn.execute(
                "INSERT INTO finding_events(finding_id, run_id, from_status, to_status, reason, actor)"
                " SELECT finding_id, $1, from_status, to_status, reason, 'scan' FROM decisions",
                run_id,
            )
        triage = await apply_rules(conn, product_id, run_id)
        moved = [d[2] for d in decisions]
        reopened = moved.count(VulnerabilityStatus.REOPENED.value)
        result = AnalysisResult(
            total=len(seen),
            new=new,
            active=moved.count(VulnerabilityStatus.ACTIVE.value),
            reopened=reopened,
            mitigated=moved.count(VulnerabilityStatus.MITIGATED.value),
            unchanged=len(seen) - new - reopened,
            triaged=triage["triaged"],
            reactivated=triage["reactivated"],
        )
        await conn.execute(
            "UPDATE runs SET analysis = $2::jsonb WHERE run_id = $1", run_id, result.model_dump_json()
        )
        return result


async def revert_run(conn: asyncpg.Connection, run_id: str) -> int:
    """Compensation of the analysis stage: restore every status this run changed; drop findings it created."""
    async with conn.transaction():
        product_id = await product_id_of_run(conn, run_id)
        if product_id is None:
            return 0
        await lock_product(conn, product_id)
        restored = await conn.fetch(
            """
            WITH rev AS (
                UPDATE finding_events SET reverted = true
                 WHERE run_id = $1 AND NOT reverted AND actor <> $2 AND from_status IS NOT NULL
             RETURNING finding_id, from_status, to_status
            ), upd AS (
                UPDATE findings f SET status = rev.from_status, status_changed_at = now()
                  FROM rev WHERE f.id = rev.finding_id
             RETURNING f.id
            )
            INSERT INTO finding_events(finding_id, run_id, from_status, to_status, reason, actor)
            SELECT finding_id, $1, to_status, from_status, 'compensation: run rolled back', $2 FROM rev
            RETURNING finding_id
            """,
            run_id, SAGA_ACTOR,
        )
        # Findings the run saw again get their previous sighting (and text) back, unless a later run
        # has seen them since: that run's view stands.
        await conn.execute(
            """
            UPDATE findings f SET last_seen_run = u.last_seen_run, last_seen_at = u.last_seen_at,
                   occurrences = u.occurrences, data = coalesce(u.data, f.data),
                   title = coalesce(u.data->>'title', f.title), severity = coalesce(u.data->>'severity', f.severity)
              FROM seen_undo u
             WHERE u.run_id = $1 AND f.id = u.finding_id AND f.last_seen_run = $1
            """,
            run_id,
        )
        await conn.execute("DELETE FROM seen_undo WHERE run_id = $1", run_id)
        deleted: str = await conn.execute(
            "DELETE FROM findings WHERE product_id = $1 AND first_seen_run = $2", product_id, run_id
        )
        await conn.execute("UPDATE runs SET analysis = NULL, status = 'compensated' WHERE run_id = $1", run_id)
        return len(restored) + int(deleted.split()[-1])


def dumps(obj: object) -> str:
    """JSON text for jsonb parameters."""
    return orjson.dumps(obj).decode()
