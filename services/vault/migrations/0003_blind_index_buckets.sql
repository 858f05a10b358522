-- The blind index names the key each row was computed with (so the key can be rotated, rows
-- moving over one re-index at a time), and keeps only a 2-byte bucket of the HMAC: equal
-- digests no longer show which subjects share an address.  Existing rows were computed with
-- the one key there was (version 1); truncating them needs no plaintext.
ALTER TABLE blind_index ADD COLUMN key_version integer NOT NULL DEFAULT 1;
ALTER TABLE blind_index DROP CONSTRAINT blind_index_pkey;
UPDATE blind_index SET digest = substring(digest FROM 1 FOR 2);
ALTER TABLE blind_index ADD PRIMARY KEY (field, key_version, digest, ext_user_id);
