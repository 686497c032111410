-- The partner portal and its rate-limited logins: every login attempt at the
-- partner portal, so that all portal processes agree on who is locked out (a counter in one
-- process's memory would let an attacker spread guesses over the others). The user id is as
-- typed (an unknown one too: locking it out says nothing about whether it exists); no password,
-- right or wrong, is ever kept. `client` is the address the request came from.
CREATE TABLE portal_login_attempts (
    id          bigserial PRIMARY KEY,
    user_id     text NOT NULL CHECK (length(user_id) <= 64),
    client      text NOT NULL CHECK (length(client) <= 64),
    succeeded   boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_login_attempts_user ON portal_login_attempts (user_id, at);
CREATE INDEX portal_login_attempts_client ON portal_login_attempts (client, at);
