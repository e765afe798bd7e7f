-- Heorot schema 1 (PostgreSQL). Times are Unix milliseconds (UTC), as in SQLite; JSON columns are jsonb.
CREATE TABLE jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name text NOT NULL,
    project text NOT NULL,
    queue text NOT NULL,
    request text NOT NULL,
    script text NOT NULL,
    state text NOT NULL,
    submit_time bigint NOT NULL,
    update_time bigint NOT NULL,
    name text,
    walltime_seconds bigint,
    working_directory text,
    attributes jsonb
);
CREATE INDEX jobs_user ON jobs (user_name, id);
CREATE INDEX jobs_queue ON jobs (queue, id);
CREATE INDEX jobs_state ON jobs (state, id);

CREATE TABLE nodes (
    name text PRIMARY KEY,
    properties jsonb NOT NULL,
    state text NOT NULL,
    update_time bigint NOT NULL
);

CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time bigint NOT NULL,
    actor text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    reason text NOT NULL,
    payload jsonb NOT NULL
);

CREATE TABLE users (
    name text PRIMARY KEY,
    create_time bigint NOT NULL
);

CREATE TABLE api_tokens (
    hash text PRIMARY KEY,
    user_name text NOT NULL REFERENCES users (name),
    description text NOT NULL,
    create_time bigint NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);
