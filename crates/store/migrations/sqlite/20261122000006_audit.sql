-- The audit trail, hash-chained: each row's hash covers its content and the
-- previous row's hash (see latchkey_core::audit).
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    result      TEXT NOT NULL,
    user_id     TEXT,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- One row: the chain's head (last seq and hash), and where the remaining
-- chain starts after pruning (first_seq, and the hash it follows).
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    hash        BLOB NOT NULL,
    first_seq   INTEGER NOT NULL,
    first_prev  BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash, first_seq, first_prev) VALUES (1, 0, zeroblob(32), 1, zeroblob(32));
