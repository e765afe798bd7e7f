-- Heorot schema 3 (SQLite): the image registry. An image is a named, versioned set of content-addressed blobs
-- (a disk and/or a kernel and initrd) owned by its uploader; the blobs themselves are files under
-- DATA/images/blobs/sha256/, this only records which image references which digest.
CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    owner TEXT NOT NULL,
    public INTEGER NOT NULL,
    format TEXT,
    cmdline TEXT,
    create_time INTEGER NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE image_parts (
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (image_id, role)
);
CREATE INDEX image_parts_digest ON image_parts (digest);
