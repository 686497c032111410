-- Lead queues at 100,000 leads and 200 claims in flight. The leads and their
-- owners were always here; now the queue workflow keeps none of them (workflows/
-- lead_queue_router.py), a claim is one guarded transaction run by a short process of its
-- own (workflows/lead_step.py), and these are the facts that moved out of workflow state.

-- "accepted": the owner has looked at the lead and works it (it still counts against the
-- claim cap). A lead whose status does not change within the queue's service level goes
-- back to the queue.
ALTER TABLE leads DROP CONSTRAINT leads_status_check;
ALTER TABLE leads ADD CONSTRAINT leads_status_check
    CHECK (status IN ('queued', 'owned', 'accepted', 'converted'));

-- The service level of a queue: a claimed lead not worked within this many minutes goes
-- back to the queue (NULL: no service level, as before).
ALTER TABLE lead_queues ADD COLUMN work_within_minutes integer
    CHECK (work_within_minutes BETWEEN 1 AND 43200);

-- Routing a batch reads the leads that batch brought (by the step that wrote them).
CREATE INDEX leads_by_step ON leads (process_id, step);
