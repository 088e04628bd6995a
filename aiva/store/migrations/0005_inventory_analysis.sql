-- Asset inventory (criticality, exposure, crown jewels, reachability/trust edges) and the
-- analysis stage's joined results: correlation groups, compliance, threat view.
ALTER TABLE assets ADD COLUMN crown_jewel boolean NOT NULL DEFAULT false;
ALTER TABLE assets ADD COLUMN description text NOT NULL DEFAULT '';

CREATE TABLE asset_edges (
    product_id  bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    from_asset  bigint NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    to_asset    bigint NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    kind        text NOT NULL,
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (product_id, from_asset, to_asset, kind)
);

-- Cross-tool correlation: findings of one group share a key (the group's smallest fingerprint).
ALTER TABLE findings ADD COLUMN group_key text;
ALTER TABLE findings ADD COLUMN group_rule text;
CREATE INDEX findings_group ON findings(product_id, group_key);

ALTER TABLE runs ADD COLUMN vulnerabilities jsonb;
ALTER TABLE runs ADD COLUMN compliance jsonb;
ALTER TABLE runs ADD COLUMN threats jsonb;
