-- Heorot schema 2 (PostgreSQL): as in SQLite, the per-attempt runtime record of a job and its attempt number.
ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN runtime jsonb;
CREATE INDEX events_subject ON events (subject, id);
