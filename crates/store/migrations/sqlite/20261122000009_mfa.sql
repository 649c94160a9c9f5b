-- Second factors. A TOTP secret is stored encrypted with the master key
-- (bound to the factor's id); a factor is pending until confirmed with a
-- code. last_step is the last TOTP step accepted, so each step is used once.
CREATE TABLE mfa_factors (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret        BLOB NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

-- Recovery codes, by SHA-256; the whole set is replaced when regenerated.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- The single-use token between a password login and its second step.
CREATE TABLE mfa_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
