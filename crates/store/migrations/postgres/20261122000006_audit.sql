-- The audit trail, hash-chained: each row's hash covers its content and the
-- previous row's hash (see latchkey_core::audit).
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    result      TEXT NOT NULL,
    user_id     TEXT,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- One row: the chain's head (last seq and hash), and where the remaining
-- chain starts after pruning (first_seq, and the hash it follows).
CREATE TABLE audit_head (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        BYTEA NOT NULL,
    first_seq   BIGINT NOT NULL,
    first_prev  BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash, first_seq, first_prev) VALUES (1, 0, decode(repeat('00', 32), 'hex'), 1, decode(repeat('00', 32), 'hex'));
