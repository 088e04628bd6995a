-- Triage rules: human decisions keyed by fingerprint and scope, honoured by every later scan.
CREATE TABLE triage_rules (
    id           bigserial PRIMARY KEY,
    scope        text NOT NULL CHECK (scope IN ('target', 'product', 'all')),
    product_id   bigint REFERENCES products(id) ON DELETE CASCADE,
    asset_id     bigint REFERENCES assets(id) ON DELETE CASCADE,
    fingerprint  text NOT NULL,
    status       text NOT NULL CHECK (status IN ('false_positive', 'risk_accepted', 'out_of_scope')),
    reason       text NOT NULL,
    actor        text NOT NULL,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK ((scope = 'all') = (product_id IS NULL)),
    CHECK ((scope = 'target') = (asset_id IS NOT NULL))
);
CREATE INDEX triage_rules_fp ON triage_rules(fingerprint);
