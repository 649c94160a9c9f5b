-- Operator unlocks (latchkey user unlock), per login identifier hash.
-- Lockout counters live in the ephemeral store; a lock that began before
-- the recorded unlock is void, whichever node holds it.
CREATE TABLE unlocks (
    identifier  TEXT PRIMARY KEY,
    unlocked_at INTEGER NOT NULL
);
