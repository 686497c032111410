-- The answer a portal page shows after a step, once: each request's own row, named in its
-- redirect (?answer=<id>), so two requests of one session never take each other's answer.
CREATE TABLE portal_answers (
    id          text PRIMARY KEY,
    user_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('ok', 'error', 'info')),
    text        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_answers_created ON portal_answers (created_at);

-- The home page's counts of what waits for a partner user, read on every page.
CREATE INDEX IF NOT EXISTS claims_current_by_user ON claims (user_id) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS opportunities_by_owner ON opportunities (owner_user_id, close_date);
-- quotes not yet accepted into an order: the change orders that may still need documents
CREATE INDEX IF NOT EXISTS quotes_open_by_account ON quotes (account_id)
    WHERE status IN ('draft', 'published', 'rejected');
CREATE INDEX IF NOT EXISTS quotes_by_process ON quotes (process_id, version);
