-- Heorot schema 3 (PostgreSQL): the image registry, as in SQLite.
CREATE TABLE images (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    version text NOT NULL,
    owner text NOT NULL,
    public boolean NOT NULL,
    format text,
    cmdline text,
    create_time bigint NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE image_parts (
    image_id bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    role text NOT NULL,
    digest text NOT NULL,
    size bigint NOT NULL,
    PRIMARY KEY (image_id, role)
);
CREATE INDEX image_parts_digest ON image_parts (digest);
