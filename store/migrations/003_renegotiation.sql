-- Records for renegotiation in Dealbuilder.
--
-- The customer card ("kundekort") is the account of 001, not a table of its own: it is the
-- same customer, its contacts and tickets already point at it, and ops find every process of
-- one customer under one AccountId. A separate companies table would hold the same customer
-- twice and leave tickets pointing at either.

-- Tickets also come in from outside (a customer writes to kundesenter): such a ticket belongs
-- to no process until a renegotiation takes it, links it to the customer card and the contact
-- and renames it. Its status is free text: 'open', the product's 'Sendt kontrakt', 'closed'.
ALTER TABLE tickets
    ALTER COLUMN process_id DROP NOT NULL,
    ALTER COLUMN step DROP NOT NULL,
    ADD COLUMN contact_id       text REFERENCES contacts (id),
    ADD COLUMN closed_reason    text,
    ADD COLUMN updated_at       timestamptz;

-- Only a person with signing authority ("signaturrett") is sent a contract to sign.
ALTER TABLE contacts ADD COLUMN signing_authority boolean NOT NULL DEFAULT false;

-- The reduction field on the customer card ("feltet med nedjustering på kundekortet"): the
-- latest reduction; earlier ones are in the audit log.
ALTER TABLE accounts
    ADD COLUMN licence_reduction            integer CHECK (licence_reduction > 0),
    ADD COLUMN licence_reduction_percent    numeric(5, 2),
    ADD COLUMN licence_reduction_on         date;

-- How many of the customer's people can use a product ("antall tilganger i Avonova digital").
CREATE TABLE product_access (
    account_id          text NOT NULL REFERENCES accounts (id),
    product             text NOT NULL,
    access_count        integer NOT NULL CHECK (access_count >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    updated_by_process  text,
    PRIMARY KEY (account_id, product)
);

-- A HubSpot deal, with the fields the renegotiation fills in.
CREATE TABLE deals (
    id                  text PRIMARY KEY,
    process_id          text NOT NULL UNIQUE,
    ticket_id           bigint REFERENCES tickets (id),
    account_id          text NOT NULL REFERENCES accounts (id),     -- "Company"
    name                text NOT NULL,
    pipeline            text NOT NULL,
    stage               text NOT NULL,
    deal_type           text NOT NULL,
    close_date          date NOT NULL,
    meeting_booker      text NOT NULL,
    owner               text NOT NULL,
    delivery_start_date date NOT NULL,
    currency            text NOT NULL,
    amount              integer NOT NULL CHECK (amount >= 0),       -- the number of licences
    contact_id          text REFERENCES contacts (id),
    contact_email       text NOT NULL,      -- "Contact": the e-mail of the person who signs
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
    closed_reason       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz
);
-- One renegotiation at a time per ticket.
CREATE UNIQUE INDEX deals_one_open_per_ticket ON deals (ticket_id) WHERE status = 'open';

-- Dealbuilder contracts. A renegotiation copies the contract it is `based_on` (its terms and
-- lines) with a new price and licence count; once signed, it supersedes that contract.
CREATE TABLE contracts (
    id                      text PRIMARY KEY,
    process_id              text UNIQUE,    -- NULL for contracts made outside partnerflow
    account_id              text NOT NULL REFERENCES accounts (id),
    deal_id                 text REFERENCES deals (id),
    template                text NOT NULL,
    based_on                text REFERENCES contracts (id),
    licences                integer NOT NULL CHECK (licences >= 0),
    price                   numeric(12, 2) NOT NULL CHECK (price >= 0),  -- per licence
    currency                text NOT NULL DEFAULT 'NOK',
    terms                   jsonb NOT NULL DEFAULT '{}',    -- the rest of the agreement
    signatory_contact_id    text REFERENCES contacts (id),
    sender                  text,
    booker                  text,
    start_date              date,
    signing_deadline        date,
    status                  text NOT NULL CHECK (status IN
                            ('draft', 'sent', 'expired', 'signed', 'superseded', 'cancelled')),
    sent_at                 timestamptz,
    signed_on               date,
    signed_at               timestamptz,
    superseded_by           text REFERENCES contracts (id),
    cancelled_reason        text,
    created_at              timestamptz NOT NULL DEFAULT now()
);
-- One renegotiation at a time per contract.
CREATE UNIQUE INDEX contracts_one_open_renegotiation ON contracts (based_on)
    WHERE status IN ('draft', 'sent', 'expired');
CREATE INDEX contracts_account ON contracts (account_id);

CREATE TABLE contract_lines (
    contract_id         text NOT NULL REFERENCES contracts (id),
    line_no             integer NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('licence', 'onboarding', 'other')),
    product             text NOT NULL,
    quantity            integer NOT NULL CHECK (quantity >= 0),
    unit_price          numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
    discount_percent    numeric(5, 2) NOT NULL DEFAULT 0
                        CHECK (discount_percent BETWEEN 0 AND 100),
    PRIMARY KEY (contract_id, line_no)
);
