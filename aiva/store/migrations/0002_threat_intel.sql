-- AIVA schema v2: threat intel (CISA KEV, FIRST EPSS) per vulnerability id, the feed loads,
-- and on each finding the intel it was last scored with.
--
-- "Never enriched" and "not exploited" are different facts:
--   findings.intel_scored_at IS NULL      never scored with intel (no feed loaded yet, or no CVE id)
--   intel_scored_at set, in_kev = false   scored with intel: none of its CVEs is in KEV
--   in_kev IS NULL                        KEV never consulted (never enriched, or only EPSS loaded)
--   epss IS NULL                          no EPSS score known for any of its CVEs

-- The finding's advisory ids (CVE, GHSA, ...) as text[], read from data->'vulnerability_ids'.
CREATE FUNCTION aiva_vuln_ids(data jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT DISTINCT e->>'id'
          FROM jsonb_array_elements(
                   CASE WHEN jsonb_typeof(data->'vulnerability_ids') = 'array'
                        THEN data->'vulnerability_ids' ELSE '[]'::jsonb END) AS e
         WHERE e->>'id' IS NOT NULL
         ORDER BY 1)
$$;

CREATE TABLE vuln_intel (
    vuln_id          text PRIMARY KEY,                   -- CVE-YYYY-NNNN
    in_kev           boolean NOT NULL DEFAULT false,
    kev_date_added   date,
    kev_ransomware   boolean,                            -- NULL unless in KEV
    epss             real,                               -- NULL: no EPSS score loaded
    epss_percentile  real,
    epss_date        date,                               -- score date of the load that set this value
    updated_at       timestamptz NOT NULL DEFAULT now()  -- last time a value above CHANGED
);
CREATE INDEX vuln_intel_updated ON vuln_intel(updated_at);

CREATE TABLE intel_loads (
    id         bigserial PRIMARY KEY,
    source     text NOT NULL,                            -- 'kev' or 'epss'
    version    text,                                     -- KEV catalogVersion / EPSS model_version
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    rows       integer NOT NULL,
    changed    integer NOT NULL,
    sha256     text NOT NULL
);

ALTER TABLE findings
    ADD COLUMN vuln_ids text[] GENERATED ALWAYS AS (aiva_vuln_ids(data)) STORED,
    ADD COLUMN in_kev boolean,                           -- NULL: never checked against KEV
    ADD COLUMN epss real,                                -- max EPSS over the finding's CVEs
    ADD COLUMN intel_scored_at timestamptz;              -- NULL: never scored with intel
