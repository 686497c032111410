-- The customer signs (or declines) the renegotiated contract on the signing page
-- (portal/signing.py). What the signer did is kept as evidence: who (the contact, the name
-- typed), when, from where (IP, user agent), the SHA-256 of the exact contract text the page
-- showed, the decision and the reason of a refusal. One row per contract, written in the
-- transaction of the workflow step that records the decision (store/steps.py `once`), keyed
-- like it: a step run twice writes nothing twice.
CREATE TABLE contract_signing_evidence (
    id                  bigserial PRIMARY KEY,
    contract_id         text NOT NULL UNIQUE REFERENCES contracts (id),
    process_id          text NOT NULL,
    run                 text NOT NULL
                        DEFAULT coalesce(current_setting('partnerflow.step_run', true), ''),
    step                text NOT NULL,
    decision            text NOT NULL CHECK (decision IN ('signed', 'declined')),
    contact_id          text NOT NULL REFERENCES contacts (id),
    typed_name          text,                       -- what the signer typed to sign
    reason              text,                       -- why the signer declined
    document_sha256     text NOT NULL CHECK (document_sha256 ~ '^[0-9a-f]{64}$'),
    language            text NOT NULL,              -- the language the document was shown in
    ip                  text NOT NULL,
    user_agent          text NOT NULL,
    decided_at          timestamptz NOT NULL,       -- when the signer pressed the button
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contract_signing_evidence_step_key UNIQUE (process_id, run, step),
    CHECK (decision <> 'signed' OR typed_name IS NOT NULL),
    CHECK (decision <> 'declined' OR reason IS NOT NULL)
);

-- A contract the customer declined: no longer open, so a new renegotiation may start from
-- the same ticket and the same original contract.
ALTER TABLE contracts DROP CONSTRAINT contracts_status_check;
ALTER TABLE contracts ADD CONSTRAINT contracts_status_check CHECK (status IN
    ('draft', 'sent', 'expired', 'signed', 'superseded', 'cancelled', 'declined'));
ALTER TABLE contracts ADD COLUMN declined_at timestamptz;
ALTER TABLE contracts ADD COLUMN declined_reason text;
