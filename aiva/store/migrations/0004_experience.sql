-- The experience model (false-positive likelihood learned from triage history).
CREATE TABLE experience_models (
    id          bigserial PRIMARY KEY,
    trained_at  timestamptz NOT NULL DEFAULT now(),
    samples     integer NOT NULL,
    positives   integer NOT NULL,
    accuracy    real NOT NULL,
    baseline    real NOT NULL,
    model       bytea NOT NULL
);
ALTER TABLE findings ADD COLUMN fp_likelihood real;
