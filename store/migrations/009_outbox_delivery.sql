-- The outbox is delivered (relay/). Each row records its delivery:
--   queued    written by a step, never tried
--   sent      the SMTP server / SMS gateway accepted it (sent_at)
--   failed    the last attempt failed (last_error = the provider's answer); tried again at
--             next_attempt_at, with back-off
--   given_up  no more attempts (too many failures, or nothing to send it to); `starter.py
--             resend ID` queues it again
-- A relay claims a row with FOR UPDATE SKIP LOCKED and holds that lock while it sends, so
-- two relays (worker replicas) never send the same row.
ALTER TABLE notifications
    ADD COLUMN status           text NOT NULL DEFAULT 'queued'
                                CHECK (status IN ('queued', 'sent', 'failed', 'given_up')),
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error       text,
    ADD COLUMN channel          text,       -- email / sms, set when delivered
    ADD COLUMN address          text,       -- where it went, resolved from the records
    ADD COLUMN language         text,
    ADD COLUMN subject          text,
    -- A one-time link (login, signing): in clear only until the message is sent, then
    -- blanked; the hash stays so a link shown by a recipient can be matched to its message.
    ADD COLUMN secret           text,
    ADD COLUMN secret_sha256    text,
    ADD COLUMN resent           integer NOT NULL DEFAULT 0;

-- Rows written before this migration that a sender had stamped are sent. Unsent rows of the
-- last 7 days go out now; older ones would arrive stale (a reminder for an order long
-- confirmed): given up, findable with `starter.py outbox --failed`, sendable with `resend`.
UPDATE notifications SET status = 'sent' WHERE sent_at IS NOT NULL;
UPDATE notifications
   SET status = 'given_up',
       last_error = 'written before delivery existed (migration 009), more than 7 days ago'
 WHERE sent_at IS NULL AND created_at < now() - interval '7 days';

-- Login links written before this migration sat in the payload in clear: moved to the
-- secret column (blanked once sent), the payload keeps no link.
UPDATE notifications
   SET secret = payload->>'login_url',
       secret_sha256 = encode(sha256(convert_to(payload->>'login_url', 'UTF8')), 'hex'),
       payload = payload - 'login_url'
 WHERE payload ? 'login_url';
UPDATE notifications SET secret = NULL WHERE status = 'sent';

CREATE INDEX notifications_due ON notifications (next_attempt_at, id)
    WHERE status IN ('queued', 'failed');

-- A new row wakes the relays at once (delivered on commit, so only committed rows).
CREATE FUNCTION notifications_wake_relay() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('partnerflow_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER notifications_wake_relay AFTER INSERT ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION notifications_wake_relay();

-- Contracts sent for signing carry a one-time signing link; only its hash is kept.
ALTER TABLE contracts ADD COLUMN signing_token_sha256 text;

-- The language a person or partner reads; NULL: the process's own language
-- (German for the Wildix partner notices, Norwegian for the Avonova contract).
ALTER TABLE partners ADD COLUMN language text CHECK (language ~ '^[a-z]{2}$');
ALTER TABLE contacts ADD COLUMN language text CHECK (language ~ '^[a-z]{2}$');
