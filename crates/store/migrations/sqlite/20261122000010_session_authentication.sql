-- When the session's user last proved who they are (login, or
-- reauthentication; NULL: at creation), and how (RFC 8176 amr values,
-- space-separated).
ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
