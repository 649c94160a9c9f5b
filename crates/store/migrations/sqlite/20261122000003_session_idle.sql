-- A session may carry its own idle limit (compatibility logins whose
-- tokens live 24 h); NULL means the configured one.
ALTER TABLE sessions ADD COLUMN idle_timeout_secs INTEGER;
