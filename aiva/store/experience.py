"""Training the experience model from the store's triage history, and scoring a run's new findings."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson

from aiva import experience

EXPERIENCE_ACTOR = "aiva-experience-model"


async def training_samples(conn: asyncpg.Connection) -> list[tuple[dict[str, Any], bool]]:
    """Findings people marked false positive (True) and findings that proved real (False)."""
    rows = await conn.fetch(
        """
        SELECT f.data::text AS data,
               bool_or(e.to_status = 'false_positive' AND e.actor <> $1) AS fp
          FROM findings f JOIN finding_events e ON e.finding_id = f.id AND NOT e.reverted
         WHERE e.to_status IN ('false_positive', 'mitigated', 'reopened', 'risk_accepted')
           AND e.actor <> $1
         GROUP BY f.id
        """,
        EXPERIENCE_ACTOR,
    )
    return [(orjson.loads(r["data"]), bool(r["fp"])) for r in rows]


async def train_and_store(conn: asyncpg.Connection) -> experience.TrainedModel:
    """Train on the whole history and store the model (ValueError when history is too thin)."""
    samples = await training_samples(conn)
    model = await asyncio.to_thread(experience.train, samples)
    await conn.execute(
        "INSERT INTO experience_models(samples, positives, accuracy, baseline, model) VALUES ($1,$2,$3,$4,$5)",
        model.samples, model.positives, model.accuracy, model.baseline, experience.dumps(model),
    )
    return model


async def latest_model(conn: asyncpg.Connection) -> experience.TrainedModel | None:
    """The newest stored model, if any."""
    blob = await conn.fetchval("SELECT model FROM experience_models ORDER BY id DESC LIMIT 1")
    return experience.loads(blob) if blob is not None else None


async def score_run(conn: asyncpg.Connection, run_id: str, auto_close_threshold: float | None) -> dict[str, int]:
    """Predict the false-positive likelihood of the findings this run created; close above the threshold."""
    model = await latest_model(conn)
    if model is None:
        return {"scored": 0, "auto_closed": 0}
    rows = await conn.fetch(
        "SELECT id, data::text AS data FROM findings WHERE first_seen_run = $1 AND status = 'new'", run_id)
    if not rows:
        return {"scored": 0, "auto_closed": 0}
    probs = await asyncio.to_thread(model.predict, [orjson.loads(r["data"]) for r in rows])
    updates = [(r["id"], p) for r, p in zip(rows, probs, strict=True)]
    closed = 0
    async with conn.transaction():
        await conn.execute("CREATE TEMP TABLE fp_scores (id bigint, p real) ON COMMIT DROP")
        await conn.copy_records_to_table("fp_scores", records=updates)
        await conn.execute("UPDATE findings f SET fp_likelihood = s.p FROM fp_scores s WHERE f.id = s.id")
        if auto_close_threshold is not None:
            done = await conn.fetch(
                """
                WITH c AS (
                    UPDATE findings f SET status = 'false_positive', status_changed_at = now()
                      FROM fp_scores s WHERE f.id = s.id AND s.p >= $2 AND f.status = 'new'
                 RETURNING f.id, s.p
                )
                INSERT INTO finding_events(finding_id, run_id, from_status, to_status, reason, actor)
                SELECT c.id, $1, 'new', 'false_positive',
                       'experience model: false-positive likelihood ' || round(c.p::numeric, 3)
                       || ' >= threshold ' || $2, $3
                  FROM c RETURNING finding_id
                """,
                run_id, auto_close_threshold, EXPERIENCE_ACTOR,
            )
            closed = len(done)
    return {"scored": len(updates), "auto_closed": closed}
