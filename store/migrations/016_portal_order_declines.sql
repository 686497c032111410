-- A partner may decline an order it was asked to confirm: the order ends 'declined', its
-- reason in closed_reason (and in the audit log of the step).
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('awaiting_partner_confirmation', 'applied', 'cancelled', 'expired', 'declined'));

-- The partner's home page counts its waiting items on every page: by partner and status.
CREATE INDEX IF NOT EXISTS orders_by_partner_status ON orders (partner_id, status);
CREATE INDEX IF NOT EXISTS classound_orders_by_partner_status
    ON classound_orders (partner_id, status);
