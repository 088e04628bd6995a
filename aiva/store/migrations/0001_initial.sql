-- AIVA schema v1: products, assets, runs, scans (one per ingested report),
-- scan_findings (what each report said), findings (current state per product),
-- finding_events (every lifecycle transition), tickets (remediation side effects).

CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    sla_days    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE assets (
    id               bigserial PRIMARY KEY,
    product_id       bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    name             text NOT NULL,
    asset_type       text NOT NULL DEFAULT 'other',
    criticality      text NOT NULL DEFAULT 'medium',
    environment      text NOT NULL DEFAULT 'production',
    internet_facing  boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'active',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (product_id, name)
);

CREATE TABLE runs (
    run_id        text PRIMARY KEY,
    product_id    bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text NOT NULL DEFAULT 'running',
    analysis      jsonb,
    risk          jsonb,
    reports       jsonb
);

CREATE TABLE scans (
    id              bigserial PRIMARY KEY,
    scan_key        text NOT NULL UNIQUE,
    run_id          text NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    product_id      bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    source_path     text NOT NULL,
    sha256          text NOT NULL,
    format          text NOT NULL,
    declared_target text,
    declared_tool   text,
    complete        boolean NOT NULL DEFAULT true,
    finding_count   integer NOT NULL,
    warning_count   integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scans_run ON scans(run_id);

CREATE TABLE scan_findings (
    scan_id      bigint NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    ord          integer NOT NULL,
    fingerprint  text NOT NULL,
    tool         text NOT NULL,
    target       text,
    severity     text NOT NULL,
    data         jsonb NOT NULL,
    PRIMARY KEY (scan_id, ord)
);
CREATE INDEX scan_findings_fp ON scan_findings(fingerprint);

CREATE TABLE findings (
    id                 bigserial PRIMARY KEY,
    product_id         bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    asset_id           bigint NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    fingerprint        text NOT NULL,
    tool               text NOT NULL,
    format             text NOT NULL,
    category           text NOT NULL,
    rule_id            text,
    title              text NOT NULL,
    severity           text NOT NULL,
    cvss_score         real,
    status             text NOT NULL,
    risk_score         real NOT NULL DEFAULT 0,
    risk_level         text NOT NULL DEFAULT 'none',
    occurrences        integer NOT NULL DEFAULT 1,
    first_seen_run     text NOT NULL,
    last_seen_run      text NOT NULL,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    status_changed_at  timestamptz NOT NULL DEFAULT now(),
    data               jsonb NOT NULL,
    UNIQUE (product_id, fingerprint)
);
CREATE INDEX findings_scope ON findings(product_id, asset_id, tool, status);
CREATE INDEX findings_last_run ON findings(last_seen_run);

CREATE TABLE finding_events (
    id           bigserial PRIMARY KEY,
    finding_id   bigint NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
    run_id       text,
    from_status  text,
    to_status    text NOT NULL,
    reason       text NOT NULL,
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    reverted     boolean NOT NULL DEFAULT false
);
CREATE INDEX finding_events_run ON finding_events(run_id);
CREATE INDEX finding_events_finding ON finding_events(finding_id);

CREATE TABLE tickets (
    id               bigserial PRIMARY KEY,
    run_id           text NOT NULL,
    finding_id       bigint REFERENCES findings(id) ON DELETE SET NULL,
    integration      text NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    external_id      text,
    status           text NOT NULL,
    opened_at        timestamptz,
    closed_at        timestamptz,
    last_error       text
);
CREATE INDEX tickets_run ON tickets(run_id);
