-- PSA onboarding of existing clients, contracts, gates and invoicing.
--
-- A PSA client is an account; its partner is the PSA tenant that bills it, with its own
-- invoice-numbering settings. Every table is prefixed psa_: the Dealbuilder contracts of
-- migration 003 are a different thing, and so are the process tickets of migration 001.
--
-- The rules that hold at all times live here, not only in a workflow:
--   * no time entry is approved and no sales item belongs to a client without billing
--     information (foreign keys to psa_billing_information; triggers give the reason);
--   * a contract becomes active only with parts that all have a price, and its parts are
--     frozen from then on;
--   * invoice numbers come from the partner's counter, reviewed first, gapless (checked at
--     commit), never reused (the counter never goes back, invoices are never deleted), one
--     invoice per contract and period.
-- Refusals by these rules carry SQLSTATE PF403 and a message staff can act on.

CREATE TABLE psa_billing_information (
    account_id          text PRIMARY KEY REFERENCES accounts (id),
    legal_name          text NOT NULL CHECK (length(btrim(legal_name)) >= 2),
    street              text NOT NULL CHECK (btrim(street) <> ''),
    postal_code         text NOT NULL CHECK (btrim(postal_code) <> ''),
    city                text NOT NULL CHECK (btrim(city) <> ''),
    country             text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    billing_email       text NOT NULL CHECK (billing_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    currency            text NOT NULL CHECK (currency IN ('EUR', 'CHF', 'GBP', 'USD', 'SEK',
                        'NOK', 'DKK', 'ISK', 'PLN', 'CZK', 'HUF', 'RON', 'BGN', 'CAD', 'AUD',
                        'JPY')),
    payment_terms_days  integer NOT NULL CHECK (payment_terms_days BETWEEN 0 AND 90),
    tax_id              text NOT NULL CHECK (tax_id ~ '^[A-Z]{2}[A-Z0-9]{2,14}$'),
    process_id          text NOT NULL,
    provided_by         text NOT NULL,
    provided_at         timestamptz NOT NULL DEFAULT now()
);

-- Monthly list prices per SKU and currency: the default price of a contract part.
CREATE TABLE psa_list_prices (
    sku         text NOT NULL REFERENCES catalogue (sku),
    currency    text NOT NULL,
    unit_price  numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (sku, currency)
);

-- The campaign pages through a partner's clients by id.
CREATE INDEX IF NOT EXISTS psa_accounts_by_partner ON accounts (partner_id, id);
CREATE INDEX IF NOT EXISTS psa_pbxs_by_account ON pbxs (account_id);

-- --- contracts ------------------------------------------------------------------------------

CREATE TABLE psa_contracts (
    id                  text PRIMARY KEY,
    process_id          text NOT NULL,
    -- no contract without billing information
    account_id          text NOT NULL REFERENCES psa_billing_information (account_id),
    status              text NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'active', 'cancelled', 'ended')),
    currency            text NOT NULL,
    payment_method      text NOT NULL CHECK (payment_method IN ('bank-transfer', 'direct-debit')),
    mandate_reference   text,
    start_date          date NOT NULL,
    end_date            date,
    billing_cycle       text NOT NULL DEFAULT 'monthly' CHECK (billing_cycle = 'monthly'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    activated_by        text,
    activated_at        timestamptz,
    closed_reason       text,
    CHECK (end_date IS NULL OR end_date > start_date),
    CHECK ((payment_method = 'direct-debit') = (mandate_reference IS NOT NULL)),
    CHECK (status <> 'active' OR activated_at IS NOT NULL)
);
CREATE INDEX psa_contracts_by_account ON psa_contracts (account_id, status);

CREATE TABLE psa_contract_parts (
    contract_id     text NOT NULL REFERENCES psa_contracts (id),
    line_no         integer NOT NULL,
    sku             text NOT NULL REFERENCES catalogue (sku),
    name            text NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    unit_price      numeric(12, 2) CHECK (unit_price >= 0),     -- NULL: no price yet
    list_price      numeric(12, 2),
    source          text NOT NULL CHECK (source IN ('assigned', 'added')),
    PRIMARY KEY (contract_id, sku),
    UNIQUE (contract_id, line_no)
);

CREATE FUNCTION psa_contract_activation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parts   integer;
    missing text;
BEGIN
    IF NEW.status = 'active' AND (TG_OP = 'INSERT' OR OLD.status <> 'active') THEN
        SELECT count(*), string_agg(sku, ', ' ORDER BY line_no) FILTER (WHERE unit_price IS NULL)
          INTO parts, missing
          FROM psa_contract_parts WHERE contract_id = NEW.id;
        IF parts = 0 THEN
            RAISE EXCEPTION 'contract % cannot become active: it has no parts', NEW.id
                USING ERRCODE = 'PF403';
        END IF;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'contract % cannot become active: no price yet for %', NEW.id, missing
                USING ERRCODE = 'PF403';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER psa_contract_activation BEFORE INSERT OR UPDATE OF status ON psa_contracts
    FOR EACH ROW EXECUTE FUNCTION psa_contract_activation();

CREATE FUNCTION psa_contract_parts_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    contract text := CASE WHEN TG_OP = 'DELETE' THEN OLD.contract_id ELSE NEW.contract_id END;
    state    text;
BEGIN
    SELECT status INTO state FROM psa_contracts WHERE id = contract;
    IF state IS DISTINCT FROM 'draft' THEN
        RAISE EXCEPTION 'contract % is %: its parts can no longer change', contract, state
            USING ERRCODE = 'PF403';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER psa_contract_parts_frozen BEFORE INSERT OR UPDATE OR DELETE ON psa_contract_parts
    FOR EACH ROW EXECUTE FUNCTION psa_contract_parts_frozen();

-- --- invoicing ------------------------------------------------------------------------------

-- One row per partner, made when its first invoicing run's review confirms it.
CREATE TABLE psa_invoice_numbering (
    partner_id      text PRIMARY KEY REFERENCES partners (id),
    prefix          text NOT NULL,
    next_number     bigint NOT NULL CHECK (next_number >= 1),
    format          text NOT NULL CHECK (format LIKE '%{number%'),
    first_number    bigint NOT NULL,        -- what the first invoice gets, fixed at the review
    confirmed_by    text NOT NULL,
    confirmed_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (next_number >= first_number)
);

CREATE FUNCTION psa_numbering_never_back() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_number < OLD.next_number OR NEW.first_number <> OLD.first_number THEN
        RAISE EXCEPTION 'invoice numbers of partner % are never reused: the next number cannot '
            'go back from % to %', OLD.partner_id, OLD.next_number, NEW.next_number
            USING ERRCODE = 'PF403';
    END IF;
    IF NEW.prefix <> OLD.prefix OR NEW.format <> OLD.format THEN
        RAISE EXCEPTION 'the invoice numbering of partner % was reviewed on %; it is not '
            'changed afterwards', OLD.partner_id, OLD.confirmed_at::date USING ERRCODE = 'PF403';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER psa_numbering_never_back BEFORE UPDATE ON psa_invoice_numbering
    FOR EACH ROW EXECUTE FUNCTION psa_numbering_never_back();
CREATE FUNCTION psa_numbering_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice numbering settings are never deleted' USING ERRCODE = 'PF403';
END $$;
CREATE TRIGGER psa_numbering_kept BEFORE DELETE ON psa_invoice_numbering
    FOR EACH ROW EXECUTE FUNCTION psa_numbering_kept();

CREATE TABLE psa_invoices (
    id              bigserial PRIMARY KEY,
    partner_id      text NOT NULL REFERENCES psa_invoice_numbering (partner_id),
    sequence_no     bigint NOT NULL,
    number          text NOT NULL,
    contract_id     text NOT NULL REFERENCES psa_contracts (id),
    account_id      text NOT NULL REFERENCES psa_billing_information (account_id),
    period          date NOT NULL CHECK (extract(day FROM period) = 1),
    currency        text NOT NULL,
    total           numeric(14, 2) NOT NULL CHECK (total >= 0),
    issued_on       date NOT NULL,
    due_on          date NOT NULL CHECK (due_on >= issued_on),
    process_id      text NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, sequence_no),
    UNIQUE (partner_id, number),
    UNIQUE (contract_id, period)
);
CREATE INDEX psa_invoices_by_period ON psa_invoices (partner_id, period);

CREATE TABLE psa_invoice_lines (
    invoice_id  bigint NOT NULL REFERENCES psa_invoices (id),
    line_no     integer NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    integer NOT NULL,
    unit_price  numeric(12, 2) NOT NULL,
    amount      numeric(14, 2) NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

-- Checked at commit, after the counter moved in the same transaction: an invoice's number
-- was allocated from the reviewed counter, and its predecessor exists (no gap).
CREATE FUNCTION psa_invoice_gapless() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n psa_invoice_numbering;
BEGIN
    SELECT * INTO n FROM psa_invoice_numbering WHERE partner_id = NEW.partner_id;
    IF NEW.sequence_no < n.first_number OR NEW.sequence_no >= n.next_number THEN
        RAISE EXCEPTION 'invoice number % of partner % was not allocated from its counter',
            NEW.sequence_no, NEW.partner_id USING ERRCODE = 'PF403';
    END IF;
    IF NEW.sequence_no > n.first_number AND NOT EXISTS (
        SELECT 1 FROM psa_invoices
         WHERE partner_id = NEW.partner_id AND sequence_no = NEW.sequence_no - 1) THEN
        RAISE EXCEPTION 'invoice number % of partner % would leave a gap', NEW.sequence_no,
            NEW.partner_id USING ERRCODE = 'PF403';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER psa_invoice_gapless AFTER INSERT ON psa_invoices
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION psa_invoice_gapless();

CREATE FUNCTION psa_invoices_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoices are never changed or deleted (invoice %); issue a credit note',
        OLD.number USING ERRCODE = 'PF403';
END $$;
CREATE TRIGGER psa_invoices_kept BEFORE UPDATE OR DELETE ON psa_invoices
    FOR EACH ROW EXECUTE FUNCTION psa_invoices_kept();

-- --- service desk and sales -----------------------------------------------------------------

-- Service-desk tickets of PSA clients: no billing information needed.
CREATE TABLE psa_tickets (
    id          bigserial PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    subject     text NOT NULL CHECK (btrim(subject) <> ''),
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'answered', 'resolved', 'closed')),
    process_id  text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX psa_tickets_by_account ON psa_tickets (account_id);

CREATE TABLE psa_ticket_messages (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES psa_tickets (id),
    kind        text NOT NULL CHECK (kind IN ('request', 'answer', 'resolution', 'closing')),
    author      text NOT NULL,
    text        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE psa_time_entries (
    id                  bigserial PRIMARY KEY,
    ticket_id           bigint NOT NULL REFERENCES psa_tickets (id),
    minutes             integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
    work_date           date NOT NULL,
    note                text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'logged' CHECK (status IN ('logged', 'approved')),
    process_id          text NOT NULL,
    logged_by           text NOT NULL,
    logged_at           timestamptz NOT NULL DEFAULT now(),
    approved_by         text,
    approved_at         timestamptz,
    -- An approved entry points at its client's billing information: none, no approval.
    billed_account_id   text REFERENCES psa_billing_information (account_id),
    CHECK ((status = 'approved') = (billed_account_id IS NOT NULL)),
    CHECK ((status = 'approved') = (approved_at IS NOT NULL))
);
CREATE INDEX psa_time_entries_by_ticket ON psa_time_entries (ticket_id);

CREATE FUNCTION psa_time_approval() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    client text;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'approved' AND NEW.status <> 'approved' THEN
        RAISE EXCEPTION 'time entry % is approved; an approval is not taken back', OLD.id
            USING ERRCODE = 'PF403';
    END IF;
    IF NEW.status = 'approved' THEN
        SELECT account_id INTO client FROM psa_tickets WHERE id = NEW.ticket_id;
        IF NOT EXISTS (SELECT 1 FROM psa_billing_information WHERE account_id = client) THEN
            RAISE EXCEPTION 'client % has no billing information: the time of its tickets '
                'cannot be approved until it is provided', client
                USING ERRCODE = 'PF403',
                      HINT = 'provide it with starter.py billing-info client-onboarding-' || client;
        END IF;
        NEW.billed_account_id := client;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER psa_time_approval BEFORE INSERT OR UPDATE ON psa_time_entries
    FOR EACH ROW EXECUTE FUNCTION psa_time_approval();

CREATE TABLE psa_sales_items (
    id          bigserial PRIMARY KEY,
    -- a sales item belongs to a client with billing information, always
    account_id  text NOT NULL REFERENCES psa_billing_information (account_id),
    description text NOT NULL CHECK (btrim(description) <> ''),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
    process_id  text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    moved_by    text,
    moved_at    timestamptz
);
CREATE INDEX psa_sales_items_by_account ON psa_sales_items (account_id);

CREATE FUNCTION psa_sales_item_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM psa_billing_information WHERE account_id = NEW.account_id) THEN
        RAISE EXCEPTION 'client % has no billing information: a sales item cannot be %',
            NEW.account_id,
            CASE TG_OP WHEN 'INSERT' THEN 'created for it' ELSE 'moved to it' END
            USING ERRCODE = 'PF403',
                  HINT = 'provide it with starter.py billing-info client-onboarding-'
                         || NEW.account_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER psa_sales_item_client BEFORE INSERT OR UPDATE OF account_id ON psa_sales_items
    FOR EACH ROW EXECUTE FUNCTION psa_sales_item_client();
