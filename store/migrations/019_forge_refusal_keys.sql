-- A refusal found while a workflow reads its input (a copied or forged payload) is seen
-- again whenever that history is replayed: its key makes it one row.
ALTER TABLE security_log ADD COLUMN refusal_key text;
CREATE UNIQUE INDEX security_log_refusal_key ON security_log (refusal_key)
    WHERE refusal_key IS NOT NULL;
