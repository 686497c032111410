-- Records for change orders. Later processes add their own migrations.

CREATE TABLE partners (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL               -- where partner notices go; resolved by the outbox sender
);

CREATE TABLE accounts (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    partner_id      text NOT NULL REFERENCES partners (id),
    -- the three mandatory fields of an account: empty means missing
    phone           text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    invoice_email   text NOT NULL DEFAULT ''
);

CREATE TABLE contacts (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    name        text NOT NULL,
    email       text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT ''
);

-- A project is the customer's PBX.
CREATE TABLE pbxs (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    name        text NOT NULL,
    active      boolean NOT NULL
);

CREATE TABLE catalogue (
    sku             text PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('licence', 'capex', 'service', 'classound_flat')),
    licence_type    text CHECK (licence_type IN ('Basic', 'Essential', 'Premium', 'Business')),
    CHECK ((kind = 'licence') = (licence_type IS NOT NULL))
);

-- Licences are held in blocks: each increase adds a block with its own start date, a
-- reduction takes seats away from the newest blocks. Quantity of a type = sum of blocks.
CREATE TABLE licences (
    id              bigserial PRIMARY KEY,
    pbx_id          text NOT NULL REFERENCES pbxs (id),
    licence_type    text NOT NULL CHECK (licence_type IN ('Basic', 'Essential', 'Premium', 'Business')),
    quantity        integer NOT NULL CHECK (quantity >= 0),
    start_date      date NOT NULL,
    order_id        text                    -- the order that added it; NULL for records migrated in
);
CREATE INDEX licences_pbx ON licences (pbx_id, licence_type);

-- Hardware, services and CLASSOUND-FLATs on a PBX. A flat is one row per licence seat and
-- names the licence type it is linked to.
CREATE TABLE pbx_products (
    id              bigserial PRIMARY KEY,
    pbx_id          text NOT NULL REFERENCES pbxs (id),
    sku             text NOT NULL REFERENCES catalogue (sku),
    quantity        integer NOT NULL CHECK (quantity > 0),
    licence_type    text,
    start_date      date NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    cancelled_on    date,
    order_id        text
);
CREATE INDEX pbx_products_pbx ON pbx_products (pbx_id, status);

CREATE TABLE dids (
    number      text PRIMARY KEY,
    pbx_id      text NOT NULL REFERENCES pbxs (id),
    flat_id     bigint REFERENCES pbx_products (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('pending', 'active', 'cancelled'))
);

CREATE TABLE quotes (
    id                  text PRIMARY KEY,
    process_id          text NOT NULL,
    account_id          text NOT NULL REFERENCES accounts (id),
    pbx_id              text NOT NULL REFERENCES pbxs (id),
    version             integer NOT NULL,
    revises             text REFERENCES quotes (id),
    is_primary          boolean NOT NULL DEFAULT false,
    published_at        timestamptz,
    status              text NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'published', 'accepted', 'rejected', 'superseded', 'cancelled')),
    rejection_reason    text,
    notes               jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (process_id, version)
);
-- Only one primary quote per project.
CREATE UNIQUE INDEX quotes_one_primary_per_pbx ON quotes (pbx_id) WHERE is_primary;

CREATE TABLE quote_lines (
    quote_id        text NOT NULL REFERENCES quotes (id),
    line_no         integer NOT NULL,
    sku             text NOT NULL REFERENCES catalogue (sku),
    quantity        integer NOT NULL,
    licence_type    text,
    start_date      date,
    PRIMARY KEY (quote_id, line_no)
);

CREATE TABLE orders (
    id              text PRIMARY KEY,
    process_id      text NOT NULL UNIQUE,
    kind            text NOT NULL CHECK (kind IN ('fast_change', 'change_order')),
    account_id      text NOT NULL REFERENCES accounts (id),
    pbx_id          text NOT NULL REFERENCES pbxs (id),
    partner_id      text NOT NULL REFERENCES partners (id),
    quote_id        text REFERENCES quotes (id),
    status          text NOT NULL CHECK (status IN
                    ('awaiting_partner_confirmation', 'applied', 'cancelled', 'expired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_by    text,
    confirmed_at    timestamptz,
    closed_reason   text
);

CREATE TABLE order_lines (
    order_id        text NOT NULL REFERENCES orders (id),
    line_no         integer NOT NULL,
    sku             text NOT NULL REFERENCES catalogue (sku),
    kind            text NOT NULL,
    quantity        integer NOT NULL,
    licence_type    text,
    start_date      date,               -- as requested; NULL = the day the order is applied
    applied_start   date,               -- what it actually started on
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE tickets (
    id              bigserial PRIMARY KEY,
    process_id      text NOT NULL,
    step            text NOT NULL,
    queue           text NOT NULL CHECK (queue IN
                    ('customer_care', 'invoice_service', 'csc', 'sales_registration', 'reseller')),
    account_id      text REFERENCES accounts (id),
    subject         text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'open',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (process_id, step)
);

-- The outbox: written in the same transaction as the change it announces; a sender
-- (outside this repo's scope for now) delivers and stamps sent_at.
CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    process_id      text NOT NULL,
    step            text NOT NULL,
    recipient_kind  text NOT NULL CHECK (recipient_kind IN ('partner', 'account', 'contact', 'role')),
    recipient_id    text NOT NULL,
    template        text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (process_id, step)
);

-- Every change with the process and the actor that caused it. (process_id, step) is also
-- the idempotency key of every write: a step that finds its row already there was done.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    process_id  text NOT NULL,
    step        text NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    result      jsonb,
    at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (process_id, step)
);
