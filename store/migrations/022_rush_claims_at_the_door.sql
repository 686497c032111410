-- Claims decided at the door. A partner user's claim is one transaction run by the portal or
-- the starter (store/lead_claims.py), not a process of its own; what must survive and wait
-- after it, the service level, is the queue's process's: it recalls, in batches, the claims
-- whose `due_at` has passed and whose lead was not worked meanwhile.

-- When the queue's process sends the lead back if it is still only claimed (NULL: no service
-- level, or a claim whose own process keeps the watch, as claims made before this release).
ALTER TABLE claims ADD COLUMN due_at timestamptz;
CREATE INDEX IF NOT EXISTS claims_due ON claims (queue_id, due_at) WHERE ended_at IS NULL AND due_at IS NOT NULL;

-- The portal's pages with 100,000 leads: the inbox reads the waiting leads oldest first, my
-- leads the user's current claims, my opportunities the user's own.
CREATE INDEX IF NOT EXISTS leads_waiting ON leads (created_at, id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS claims_current_by_user ON claims (user_id, started_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS opportunities_owner ON opportunities (owner_user_id, created_at);
-- Orders and documents pages: a partner's waiting items among every order it ever had.
CREATE INDEX IF NOT EXISTS orders_waiting_by_partner ON orders (partner_id, created_at)
    WHERE status = 'awaiting_partner_confirmation';
CREATE INDEX IF NOT EXISTS classound_orders_waiting_by_partner ON classound_orders (partner_id)
    WHERE status = 'awaiting_reseller';
CREATE INDEX IF NOT EXISTS accounts_partner ON accounts (partner_id);
