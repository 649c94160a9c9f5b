-- Old sessions are deleted once a minute (with their refresh tokens): find
-- them without reading the whole table.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_ended ON sessions (ended_at);
