-- Staff read records (an account, a queue's leads, an invoice, contacts, the work list)
-- straight from PostgreSQL, not through a workflow: reads are not processes and have no place
-- in Temporal's list. They run in a read-only transaction under this role: it may read the
-- records, never a secret (password hashes, login and signing token hashes, unsent links), and
-- write nothing. The connection that sets it keeps its own login (under ./run the owner's; in
-- production a staff login role that is a member of partnerflow_reader and nothing more).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'partnerflow_reader') THEN
        CREATE ROLE partnerflow_reader NOLOGIN;
    END IF;
EXCEPTION
    -- roles belong to the whole server: another database's migration made it just now
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'partnerflow_reader not created (no CREATEROLE): reads run read-only '
                     'under the connection''s own role';
END $$;

DO $$
DECLARE
    secret record;
    readable text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'partnerflow_reader') THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO partnerflow_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO partnerflow_reader',
                   current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES '
                   'TO partnerflow_reader', current_schema());
    -- a refused read is still logged, by the reader itself
    GRANT INSERT ON security_log TO partnerflow_reader;
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO partnerflow_reader',
                   current_schema());
    -- the tables that hold a secret are readable without those columns
    FOR secret IN
        SELECT t.name, t.hidden FROM (VALUES
            ('partner_users', ARRAY['login_token_sha256', 'password_hash']),
            ('notifications', ARRAY['secret', 'secret_sha256']),
            ('contracts', ARRAY['signing_token_sha256'])
        ) AS t (name, hidden)
    LOOP
        SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
          INTO readable
          FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = secret.name
           AND column_name <> ALL (secret.hidden);
        EXECUTE format('REVOKE SELECT ON %I FROM partnerflow_reader', secret.name);
        EXECUTE format('GRANT SELECT (%s) ON %I TO partnerflow_reader', readable, secret.name);
    END LOOP;
    BEGIN
        -- the owner's connection may take the role (a superuser may anyway)
        EXECUTE format('GRANT partnerflow_reader TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN NULL;
    END;
END $$;
