-- A claim's facts in one round trip. In a rush, a partner's claims queue on its account's row
-- lock (the claim cap), so every round trip made while holding it is one the partner's next
-- claim waits. These functions only read and lock: what the facts mean is decided in Python
-- (domain/permissions.py, domain/leads/steps.py), never here.

-- Everything the people directory knows of one id (store/people.py reads it through this).
CREATE OR REPLACE FUNCTION directory_person(p_id text)
RETURNS TABLE (staff_status text, roles text[], partner_id text, partner_status text,
               signer_for text[])
LANGUAGE sql STABLE AS $$
    SELECT s.status,
           (SELECT coalesce(array_agg(r.role ORDER BY r.role), '{}') FROM staff_roles r
             WHERE r.user_id = p_id),
           pu.partner_id, pu.status,
           (SELECT coalesce(array_agg(c.account_id ORDER BY c.account_id), '{}') FROM contacts c
             WHERE c.id = p_id AND c.signing_authority AND c.account_id IS NOT NULL)
      FROM (SELECT p_id AS id) a
      LEFT JOIN staff_users s ON s.id = a.id
      LEFT JOIN partner_users pu ON pu.id = a.id
$$;

-- A claim's facts: the queue, its partners, the actor as the directory knows them, the step's
-- stored answer if this request was decided before (then nothing is locked), and, when the
-- claiming user is of one of the queue's partners: the partner account's row locked, the
-- user's row shared, the lead's row locked, and after those locks (PL/pgSQL takes a fresh
-- snapshot per statement, so a claim that waited sees the claim it waited for) the lead's
-- current claim and the partner's open leads in the queue. The lock order is the one every
-- step on leads takes: partner account, user, lead.
CREATE OR REPLACE FUNCTION lead_claim_facts(p_actor text, p_user text, p_lead text,
                                            p_queue text, p_open text[], p_process_id text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    facts   jsonb;
    partner text;
    account text;
    lead    record;
    usr     record;
    current record;
    held    bigint;
BEGIN
    SELECT jsonb_build_object(
               'queue', (SELECT jsonb_build_object('queue_id', q.id,
                                'channel_managers', to_jsonb(q.channel_managers),
                                'claim_cap', q.claim_cap,
                                'work_within_minutes', q.work_within_minutes)
                           FROM lead_queues q WHERE q.id = p_queue),
               'partner_ids', (SELECT coalesce(jsonb_agg(qp.partner_id), '[]')
                                 FROM lead_queue_partners qp WHERE qp.queue_id = p_queue),
               'person', (SELECT to_jsonb(d) FROM directory_person(p_actor) d),
               'done', (SELECT coalesce(a.result, '{}') FROM audit_log a
                         WHERE a.process_id = p_process_id AND a.run = '' AND a.step = 'claim'))
      INTO facts;
    IF facts->'done' <> 'null'::jsonb OR facts->'queue' = 'null'::jsonb THEN
        RETURN facts;
    END IF;
    SELECT u.partner_id INTO partner FROM partner_users u
      JOIN lead_queue_partners qp ON qp.partner_id = u.partner_id AND qp.queue_id = p_queue
     WHERE u.id = p_user;
    IF partner IS NULL THEN
        RETURN facts;
    END IF;
    SELECT status INTO account FROM partner_accounts WHERE partner_id = partner FOR UPDATE;
    SELECT u.partner_id, u.status INTO usr FROM partner_users u WHERE u.id = p_user FOR SHARE;
    SELECT l.id, l.status, l.queue_id INTO lead FROM leads l WHERE l.id = p_lead FOR UPDATE;
    SELECT c.id, c.user_id, c.partner_id INTO current FROM claims c
     WHERE c.lead_id = p_lead AND c.ended_at IS NULL;
    SELECT count(*) INTO held FROM claims h JOIN leads l ON l.id = h.lead_id
     WHERE h.partner_id = partner AND h.queue_id = p_queue AND h.ended_at IS NULL
       AND l.status = ANY (p_open);
    RETURN facts || jsonb_build_object(
        'partner_id', partner,
        'receiver', jsonb_build_object('user_id', p_user, 'partner_id', partner,
                                       'account_status', account,
                                       'user_partner', usr.partner_id,
                                       'user_status', usr.status),
        'lead', CASE WHEN lead.id IS NULL THEN NULL ELSE jsonb_build_object(
                    'lead_id', lead.id, 'queue_id', lead.queue_id, 'status', lead.status,
                    'owner', current.user_id, 'partner', current.partner_id,
                    'claim_id', current.id) END,
        'held', held);
END
$$;
