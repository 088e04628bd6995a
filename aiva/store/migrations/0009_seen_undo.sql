-- AIVA schema v9: what a run's analysis overwrote on the findings it saw again (last seen, occurrences,
-- and the finding's JSON when the scanner's text changed), so that compensating the run restores it.
-- Rows live while the run is in flight: the report stage deletes them when the run completes.
CREATE TABLE seen_undo (
    run_id         text NOT NULL,
    finding_id     bigint NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
    last_seen_run  text NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    occurrences    integer NOT NULL,
    data           jsonb,                               -- NULL: the run left the JSON as it was
    PRIMARY KEY (run_id, finding_id)
);
CREATE INDEX seen_undo_finding ON seen_undo(finding_id);
