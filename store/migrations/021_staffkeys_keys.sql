-- The public half of each person's signing key (the private half stays in the holder's own
-- file). A staff step is taken only when signed with an active key of the person it names;
-- service keys (the portal) act only for partner users and customers' signers; the
-- worker's key for what a process sends on. Rows are never deleted: a revoked key keeps
-- its row, so a history replayed later decides as it did the first time.
CREATE TABLE staff_keys (
    key_id      text PRIMARY KEY,
    holder      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('staff', 'service', 'worker')),
    public_key  bytea NOT NULL UNIQUE,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    enrolled_by text NOT NULL,
    revoked_at  timestamptz,
    revoked_by  text
);
CREATE INDEX staff_keys_holder ON staff_keys (holder);
