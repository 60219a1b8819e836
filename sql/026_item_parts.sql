-- Item values larger than one request (docs/worlds.md, "Items"): uploaded in
-- parts of up to 8 MiB, then made a key's value by a batch write naming the
-- upload, all or nothing with the batch's conditions. Such a value stays in
-- its parts (world.item_parts); a reader asks for them one by one. So no
-- request and no row holds a value of up to 256 MiB whole.

CREATE TABLE world.item_uploads (
    world_key   bigint NOT NULL REFERENCES world.worlds ON DELETE CASCADE,
    upload      text NOT NULL,                  -- the caller's name for it
    part        integer NOT NULL CHECK (part BETWEEN 1 AND 32),
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),  -- abandoned after a day
    PRIMARY KEY (world_key, upload, part)
);
ALTER TABLE world.item_uploads ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE world.item_parts (
    world_key  bigint NOT NULL,
    key        text NOT NULL COLLATE "C",
    part       integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (world_key, key, part),
    FOREIGN KEY (world_key, key) REFERENCES world.items ON DELETE CASCADE
);
ALTER TABLE world.item_parts ALTER COLUMN data SET STORAGE EXTERNAL;

ALTER TABLE world.items
    ADD COLUMN parts   integer NOT NULL DEFAULT 0,  -- 0: the value is in the row
    ADD COLUMN size    bigint,                      -- a value in parts: its bytes
    ADD COLUMN sha256  text;                        -- and their SHA-256 (hex)
