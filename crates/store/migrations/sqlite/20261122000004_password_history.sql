-- Hashes of a user's previous passwords, newest kept, so that a new
-- password can be refused for repeating one (password.history).
CREATE TABLE password_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, id);
