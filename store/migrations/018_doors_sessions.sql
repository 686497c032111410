-- The partner portal's doors: server-side sessions, login attempts per (user, address),
-- one-time links to set a forgotten password, and refusals at the portal in the security log.

-- A session is a row; the browser's cookie holds only a random id, of which the row keeps the
-- SHA-256. Ending the row (logout, a password change, deactivation) ends the session and the
-- CSRF token kept in its data at once, on every portal process: a cookie saved before opens
-- nothing afterwards. `user_id` is NULL before login (the login form's CSRF token, the language).
CREATE TABLE portal_sessions (
    id_sha256   text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
    user_id     text,
    data        jsonb NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    ended_why   text
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX portal_sessions_seen ON portal_sessions (seen_at);

-- Whoever changes a partner user's password or takes the user (or its partner account) out of
-- active use — the portal, a workflow step, an admin in psql — ends the user's sessions in the
-- same transaction: no writer can forget it.
CREATE FUNCTION portal_sessions_end_for_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE portal_sessions SET ended_at = now(),
        ended_why = CASE WHEN NEW.status <> 'active' THEN 'user no longer active'
                         ELSE 'password changed' END
     WHERE user_id = NEW.id AND ended_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER portal_sessions_end_for_user AFTER UPDATE OF password_hash, status
    ON partner_users FOR EACH ROW
    WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash OR NEW.status <> 'active')
    EXECUTE FUNCTION portal_sessions_end_for_user();

CREATE FUNCTION portal_sessions_end_for_partner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE portal_sessions s SET ended_at = now(), ended_why = 'partner account not active'
      FROM partner_users u
     WHERE u.partner_id = NEW.partner_id AND s.user_id = u.id AND s.ended_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER portal_sessions_end_for_partner AFTER UPDATE OF status
    ON partner_accounts FOR EACH ROW WHEN (NEW.status <> 'active')
    EXECUTE FUNCTION portal_sessions_end_for_partner();

-- Attempts are judged per (user, address) and per address (domain/portal.py), for each door:
-- a login, a first login, a request for a password link, setting a password by such a link.
-- The user id is as typed (an e-mail address for a password link), unknown ones too.
ALTER TABLE portal_login_attempts ADD COLUMN kind text NOT NULL DEFAULT 'login'
    CHECK (kind IN ('login', 'first-login', 'reset-request', 'reset'));
ALTER TABLE portal_login_attempts DROP CONSTRAINT IF EXISTS portal_login_attempts_user_id_check;
ALTER TABLE portal_login_attempts ADD CONSTRAINT portal_login_attempts_user_id_check
    CHECK (length(user_id) <= 254);
CREATE INDEX portal_login_attempts_pair ON portal_login_attempts (user_id, client, at);

-- A link to set a forgotten password: one-time, expiring, only the token's SHA-256 kept (the
-- clear link lives sealed in the outbox row until the relay sends it, like an invitation's).
CREATE TABLE portal_password_resets (
    id            bigserial PRIMARY KEY,
    user_id       text NOT NULL REFERENCES partner_users (id),
    token_sha256  text NOT NULL UNIQUE,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX portal_password_resets_user ON portal_password_resets (user_id);

-- Refusals at the portal's door (and the signing page's) are security log rows like the others.
ALTER TABLE security_log DROP CONSTRAINT IF EXISTS security_log_checked_in_check;
ALTER TABLE security_log ADD CONSTRAINT security_log_checked_in_check
    CHECK (checked_in IN ('workflow', 'store', 'starter', 'portal', 'signing'));

-- The staff reader role (migration 015) reads records, never a secret: neither a session's id
-- hash and data (its CSRF token) nor a password link's token hash.
DO $$
DECLARE
    secret record;
    readable text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'partnerflow_reader') THEN
        RETURN;
    END IF;
    FOR secret IN
        SELECT t.name, t.hidden FROM (VALUES
            ('portal_sessions', ARRAY['id_sha256', 'data']),
            ('portal_password_resets', ARRAY['token_sha256'])
        ) AS t (name, hidden)
    LOOP
        SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
          INTO readable
          FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = secret.name
           AND column_name <> ALL (secret.hidden);
        EXECUTE format('REVOKE SELECT ON %I FROM partnerflow_reader', secret.name);
        EXECUTE format('GRANT SELECT (%s) ON %I TO partnerflow_reader', readable, secret.name);
    END LOOP;
END $$;
