-- Partner accounts, partner users and partner lead queues.

-- Partner relationship management is switched on once and never off (the vendor's own words: « Cette
-- action n'est pas réversible »). One row at most; the triggers make it permanent.
CREATE TABLE partner_management (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enabled_at  timestamptz NOT NULL DEFAULT now(),
    enabled_by  text NOT NULL,
    process_id  text NOT NULL
);

CREATE FUNCTION partner_management_is_irreversible() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'partner management cannot be disabled: enabling it is irreversible';
END
$$;

CREATE TRIGGER partner_management_stays_enabled BEFORE UPDATE OR DELETE ON partner_management
    FOR EACH ROW EXECUTE FUNCTION partner_management_is_irreversible();
CREATE TRIGGER partner_management_not_truncated BEFORE TRUNCATE ON partner_management
    FOR EACH STATEMENT EXECUTE FUNCTION partner_management_is_irreversible();

-- A partner (001) "enabled as partner": its account record, owned by a channel manager.
CREATE TABLE partner_accounts (
    partner_id          text PRIMARY KEY REFERENCES partners (id),
    channel_manager     text NOT NULL,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    -- grows with every change of the account or its users: lead queues keep the newest
    roster_version      bigint NOT NULL DEFAULT 1,
    process_id          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL,
    deactivated_at      timestamptz,
    deactivated_by      text,
    deactivation_reason text
);

-- A partner's contacts: a contact belongs to a customer account or to a partner.
ALTER TABLE contacts ADD COLUMN partner_id text REFERENCES partners (id);
ALTER TABLE contacts ALTER COLUMN account_id DROP NOT NULL;
ALTER TABLE contacts ADD CONSTRAINT contacts_of_an_account_or_a_partner
    CHECK ((account_id IS NULL) <> (partner_id IS NULL));

-- A contact enabled as partner user. Its id is the contact id (no personal data in it). The
-- login link's token is kept only as its SHA-256, the password only as a scrypt hash.
CREATE TABLE partner_users (
    id                  text PRIMARY KEY REFERENCES contacts (id),
    partner_id          text NOT NULL REFERENCES partner_accounts (partner_id),
    status              text NOT NULL DEFAULT 'invited'
                        CHECK (status IN ('invited', 'active', 'inactive')),
    login_token_sha256  text,
    login_link_expires  timestamptz,
    invitations         integer NOT NULL DEFAULT 1,
    invited_at          timestamptz NOT NULL DEFAULT now(),
    invited_by          text NOT NULL,
    password_hash       text,
    first_login_at      timestamptz,
    deactivated_at      timestamptz,
    -- only a user who has logged in (and so changed the temporary password) is active
    CHECK (status <> 'active' OR (password_hash IS NOT NULL AND first_login_at IS NOT NULL))
);
CREATE INDEX partner_users_partner ON partner_users (partner_id);

CREATE TABLE lead_queues (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    channel_managers    text[] NOT NULL,
    claim_cap           integer NOT NULL CHECK (claim_cap > 0),
    routing             text NOT NULL CHECK (routing IN ('claim', 'round-robin')),
    process_id          text NOT NULL,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    opened_by           text NOT NULL
);

-- The partners whose users may claim from a queue and be given its leads.
CREATE TABLE lead_queue_partners (
    queue_id    text NOT NULL REFERENCES lead_queues (id),
    partner_id  text NOT NULL REFERENCES partner_accounts (partner_id),
    position    integer NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    added_by    text NOT NULL,
    PRIMARY KEY (queue_id, partner_id)
);
CREATE INDEX lead_queue_partners_partner ON lead_queue_partners (partner_id);

-- Assignment rules of a queue, tried in position order; the first that matches wins.
CREATE TABLE assignment_rules (
    queue_id        text NOT NULL REFERENCES lead_queues (id),
    rule_id         integer NOT NULL,
    position        integer NOT NULL,
    country         text,
    postal_prefix   text,
    product         text,
    to_partner_id   text REFERENCES partner_accounts (partner_id),
    to_queue_id     text REFERENCES lead_queues (id),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue_id, rule_id),
    CHECK ((to_partner_id IS NULL) <> (to_queue_id IS NULL)),
    CHECK (country IS NOT NULL OR postal_prefix IS NOT NULL OR product IS NOT NULL)
);

-- Leads: personal data, here and nowhere else (never in Temporal). The same person twice
-- is one lead: the dedupe key (a hash of the e-mail, else of phone and company) is unique.
CREATE SEQUENCE lead_numbers;
CREATE TABLE leads (
    id              text PRIMARY KEY DEFAULT 'L-' || nextval('lead_numbers'),
    dedupe_key      text NOT NULL UNIQUE,
    company         text NOT NULL,
    name            text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    country         text NOT NULL DEFAULT '',
    postal_code     text NOT NULL DEFAULT '',
    product         text NOT NULL DEFAULT '',
    source          text NOT NULL DEFAULT '',
    queue_id        text NOT NULL REFERENCES lead_queues (id),  -- the queue it is in
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'owned', 'converted')),
    process_id      text NOT NULL,
    step            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_queue ON leads (queue_id, status);

-- Who owns a lead, and how they came to: a claim from the queue, a channel manager's
-- assignment, an assignment rule or round-robin. A claim ends when the lead changes owner or
-- goes back to the queue. At most one current owner per lead: the index below makes a double
-- owner impossible, whatever the workflows do.
CREATE TABLE claims (
    id              bigserial PRIMARY KEY,
    lead_id         text NOT NULL REFERENCES leads (id),
    queue_id        text NOT NULL REFERENCES lead_queues (id),
    user_id         text NOT NULL REFERENCES partner_users (id),
    partner_id      text NOT NULL REFERENCES partner_accounts (partner_id),
    how             text NOT NULL CHECK (how IN ('claim', 'assignment', 'rule', 'round-robin')),
    rule_id         integer,
    by_actor        text NOT NULL,
    process_id      text NOT NULL,
    step            text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    ended_reason    text,
    CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
);
CREATE UNIQUE INDEX claims_one_owner_per_lead ON claims (lead_id) WHERE ended_at IS NULL;
CREATE INDEX claims_current_by_partner ON claims (partner_id, queue_id) WHERE ended_at IS NULL;

-- A lead far enough along, converted by its owner; the partner keeps it up to date.
CREATE TABLE opportunities (
    id              text PRIMARY KEY,
    lead_id         text NOT NULL UNIQUE REFERENCES leads (id),
    queue_id        text NOT NULL REFERENCES lead_queues (id),
    owner_user_id   text NOT NULL REFERENCES partner_users (id),
    partner_id      text NOT NULL REFERENCES partner_accounts (partner_id),
    stage           text NOT NULL CHECK (stage IN ('prospecting', 'qualification', 'proposal',
                                                   'negotiation', 'closed-won', 'closed-lost')),
    amount          numeric(14, 2) CHECK (amount >= 0),
    close_date      date,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text NOT NULL
);
