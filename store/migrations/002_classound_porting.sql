-- CLASSOUND activation and number porting.

-- One CLASSOUND order: a new activation, or "Classound ordering" for an existing customer.
CREATE TABLE classound_orders (
    process_id      text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('activation', 'ordering')),
    account_id      text NOT NULL REFERENCES accounts (id),
    pbx_id          text NOT NULL REFERENCES pbxs (id),
    partner_id      text NOT NULL REFERENCES partners (id),
    flats           jsonb NOT NULL DEFAULT '{}',    -- CLASSOUND-FLATs to add, per licence type
    numbers         integer NOT NULL CHECK (numbers > 0),
    status          text NOT NULL CHECK (status IN ('awaiting_reseller', 'porting_requested',
                    'porting_scheduled', 'carrier_refused', 'active', 'expired', 'cancelled')),
    requested_by    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    ticket_id       bigint REFERENCES tickets (id),  -- the reseller's ticket for the documents
    escalates_at    timestamptz,
    expires_at      timestamptz,
    confirmed_by    text,
    confirmed_at    timestamptz,
    porting_date    date,
    activated_on    date,
    closed_reason   text
);
CREATE INDEX classound_orders_account ON classound_orders (account_id);

-- The numbers to port. Personal data: they live here and in the document store, never in
-- Temporal. `position` is the entry in the reseller's list, how messages refer to a number.
CREATE TABLE classound_numbers (
    process_id  text NOT NULL REFERENCES classound_orders (process_id),
    position    integer NOT NULL CHECK (position > 0),
    number      text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    PRIMARY KEY (process_id, position),
    UNIQUE (process_id, number)
);
CREATE INDEX classound_numbers_number ON classound_numbers (number);

-- Uploaded documents. The bytes are in the document store at `storage_path` (relative to
-- its root); one row per distinct file per process and kind, the newest upload is current.
CREATE TABLE documents (
    id                  bigserial PRIMARY KEY,
    process_id          text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('loa', 'last-invoice')),
    file_name           text NOT NULL,
    content_type        text NOT NULL
                        CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size                integer NOT NULL CHECK (size > 0 AND size <= 10485760),
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_path        text NOT NULL,
    uploaded_by         text NOT NULL,
    uploaded_at         timestamptz NOT NULL DEFAULT now(),  -- the latest upload of this file
    first_uploaded_at   timestamptz NOT NULL DEFAULT now(),
    is_current          boolean NOT NULL DEFAULT true,
    UNIQUE (process_id, kind, sha256)
);
CREATE UNIQUE INDEX documents_one_current ON documents (process_id, kind) WHERE is_current;

-- A porting request to the old carrier; a resubmission after a refusal is a new attempt.
CREATE TABLE porting_requests (
    id                  bigserial PRIMARY KEY,
    process_id          text NOT NULL REFERENCES classound_orders (process_id),
    attempt             integer NOT NULL CHECK (attempt > 0),
    pbx_id              text NOT NULL REFERENCES pbxs (id),
    loa_document_id     bigint NOT NULL REFERENCES documents (id),
    invoice_document_id bigint NOT NULL REFERENCES documents (id),
    numbers             integer NOT NULL,
    status              text NOT NULL DEFAULT 'submitted' CHECK (status IN
                        ('submitted', 'scheduled', 'refused', 'completed', 'withdrawn')),
    submitted_by        text NOT NULL,
    submitted_at        timestamptz NOT NULL DEFAULT now(),
    answered_at         timestamptz,
    porting_date        date,
    refusal_reason      text,
    UNIQUE (process_id, attempt)
);

-- How CLASSOUND calls are billed for each licence type of a PBX: Essential,
-- Premium and Business include free minutes per user and month; Basic is billed per minute.
CREATE TABLE classound_billing_plans (
    pbx_id                  text NOT NULL REFERENCES pbxs (id),
    licence_type            text NOT NULL
                            CHECK (licence_type IN ('Basic', 'Essential', 'Premium', 'Business')),
    plan                    text NOT NULL CHECK (plan IN ('free-minutes', 'per-minute')),
    free_minutes_per_user   integer NOT NULL DEFAULT 0 CHECK (free_minutes_per_user >= 0),
    since                   date NOT NULL,
    process_id              text NOT NULL,
    PRIMARY KEY (pbx_id, licence_type)
);
