-- Heorot schema 2 (SQLite): the control plane's per-attempt runtime record of a job (allocation, start, end,
-- exit status, reason) as JSON, and the attempt number that keys launches so nothing runs twice.
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN runtime TEXT;
CREATE INDEX events_subject ON events (subject, id);
