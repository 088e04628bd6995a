-- API keys for the HTTP ingest API. The secret itself is never stored: only its
-- HMAC-SHA256 under AIVA_SECRET_HASH_KEY (aiva/apikeys.py explains why that is enough).
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{12}$'),   -- the public lookup id in aiva_<id>_<secret>
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash   text NOT NULL CHECK (length(secret_hash) = 64),
    scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);

-- Keyset pagination of a product's findings (GET /api/v1/products/{product}/findings) walks this index.
CREATE INDEX findings_product_keyset ON findings(product_id, id);
