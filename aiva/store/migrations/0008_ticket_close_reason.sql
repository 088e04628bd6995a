-- AIVA schema v8: why a ticket was closed (rolled back with its run, or its finding fixed or triaged
-- in a later run), and which run closed it.
ALTER TABLE tickets ADD COLUMN close_reason text, ADD COLUMN closed_by_run text;
CREATE INDEX tickets_open ON tickets(finding_id) WHERE status = 'open';
