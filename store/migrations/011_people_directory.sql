-- Who may do what. The people directory: staff users with their roles (partner
-- users are partner_users, customer signers are contacts with signing_authority), and the
-- security log of every refused step.

CREATE TABLE staff_users (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._@-]{1,64}$'),
    name            text NOT NULL,
    email           text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    deactivated_at  timestamptz
);

CREATE TABLE staff_roles (
    user_id     text NOT NULL REFERENCES staff_users (id),
    role        text NOT NULL CHECK (role IN ('sales_ops', 'customer_care', 'invoice_service',
                                              'csc', 'channel_manager', 'finance', 'admin')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    granted_by  text NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Who tried what and was refused: ops read it with `starter.py security-log`.
CREATE TABLE security_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    permission  text NOT NULL,          -- Workflow.step, e.g. FastChangeOrder.confirm
    process_id  text NOT NULL,
    reason      text NOT NULL,
    checked_in  text NOT NULL CHECK (checked_in IN ('workflow', 'store', 'starter'))
);
CREATE INDEX security_log_at ON security_log (at);
