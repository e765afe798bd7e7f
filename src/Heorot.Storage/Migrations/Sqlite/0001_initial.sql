-- Heorot schema 1 (SQLite). Times are Unix milliseconds (UTC); JSON columns hold text.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name TEXT NOT NULL,
    project TEXT NOT NULL,
    queue TEXT NOT NULL,
    request TEXT NOT NULL,
    script TEXT NOT NULL,
    state TEXT NOT NULL,
    submit_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    name TEXT,
    walltime_seconds INTEGER,
    working_directory TEXT,
    attributes TEXT
);
CREATE INDEX jobs_user ON jobs (user_name, id);
CREATE INDEX jobs_queue ON jobs (queue, id);
CREATE INDEX jobs_state ON jobs (state, id);

CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    properties TEXT NOT NULL,
    state TEXT NOT NULL,
    update_time INTEGER NOT NULL
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    create_time INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name),
    description TEXT NOT NULL,
    create_time INTEGER NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);
