-- A step is keyed by its process's *run chain* too (the first run id of the
-- workflow, stable across continue-as-new, new when an ended process id is started again).
-- Without it, an onboarding started again under the same id found the old run's steps
-- ("step already done, nothing written") and kept the old run's results.
-- Rows written before this migration keep run '' : the activities of processes that were
-- running at the deploy carry no run either, so their retries still find their rows.
-- notifications and tickets take their run from the step's transaction
-- (store/steps.py `once` sets partnerflow.step_run), so the store functions that write them
-- need no new argument.
ALTER TABLE audit_log ADD COLUMN run text NOT NULL DEFAULT '';
ALTER TABLE audit_log DROP CONSTRAINT audit_log_process_id_step_key;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_step_key UNIQUE (process_id, run, step);

ALTER TABLE notifications
    ADD COLUMN run text NOT NULL
        DEFAULT coalesce(current_setting('partnerflow.step_run', true), '');
ALTER TABLE notifications DROP CONSTRAINT notifications_process_id_step_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_step_key UNIQUE (process_id, run, step);

ALTER TABLE tickets
    ADD COLUMN run text DEFAULT coalesce(current_setting('partnerflow.step_run', true), '');
ALTER TABLE tickets DROP CONSTRAINT tickets_process_id_step_key;
ALTER TABLE tickets ADD CONSTRAINT tickets_step_key UNIQUE (process_id, run, step);
