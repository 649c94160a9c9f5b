-- The session that asked for an email change: when the link confirms the
-- change, every other session of the account ends, that one stays.
ALTER TABLE email_tokens ADD COLUMN session_id TEXT;
