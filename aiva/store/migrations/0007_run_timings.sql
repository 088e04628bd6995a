-- AIVA schema v7: each run keeps its stage timings (read from the workflow history at report time),
-- so `aiva report RUN` still has them after the Temporal namespace's retention has deleted the history.
ALTER TABLE runs ADD COLUMN stage_timings jsonb;
