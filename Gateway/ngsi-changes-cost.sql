-- What noting changes for NGSI-LD subscriptions costs the writers of latest_observations (BENCHMARKS.md, "CIP tier:
-- noting changes"). Run as the database owner on a scratch database migrated by `cip-gateway migrate` (it writes
-- rows `bench-*` and toggles the triggers):
--   psql "<owner URL of a scratch database>" -q -f Gateway/ngsi-changes-cost.sql
-- A round upserts 100 statements of 500 open values of existing series (the pipeline's shape in steady ingest: one
-- statement per flush, many series), in a transaction of its own, after a VACUUM. Three modes, each three times in
-- turn: the triggers disabled (the baseline), enabled with nobody subscribed, enabled with one subscription; the
-- fastest round of each counts.
\set ON_ERROR_STOP on
CREATE TEMP TABLE cost (mode text, seconds double precision);
CREATE FUNCTION pg_temp.upserts() RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..100 LOOP
        INSERT INTO latest_observations AS l (device_id, quantity, value_number, observed_at, received_at, message_key, confidentiality)
        SELECT 'bench-' || g, 'temperature', i, now(), now(), '\x01', 1 FROM generate_series(1, 500) g
        ON CONFLICT (device_id, quantity) DO UPDATE SET value_number = EXCLUDED.value_number, observed_at = EXCLUDED.observed_at;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - started);
END $$;
CREATE FUNCTION pg_temp.mode(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ngsi_subscriptions WHERE id = 'urn:bench:1';
    DELETE FROM ngsi_changes WHERE device_id LIKE 'bench-%';
    IF name = 'triggers disabled' THEN
        ALTER TABLE latest_observations DISABLE TRIGGER latest_observations_inserted;
        ALTER TABLE latest_observations DISABLE TRIGGER latest_observations_updated;
    ELSE
        ALTER TABLE latest_observations ENABLE TRIGGER latest_observations_inserted;
        ALTER TABLE latest_observations ENABLE TRIGGER latest_observations_updated;
    END IF;
    IF name = 'one subscription' THEN
        INSERT INTO ngsi_subscriptions (id, owner, definition) VALUES ('urn:bench:1', 'bench', '{}');
    END IF;
END $$;
SELECT pg_temp.mode('triggers disabled');
SELECT pg_temp.upserts() AS "warm-up";
\o /dev/null
-- The rounds, mode after mode, three times: each statement on its own (VACUUM runs outside a transaction).
SELECT statement FROM generate_series(1, 3) AS r(round)
CROSS JOIN unnest(ARRAY['triggers disabled', 'nobody subscribed', 'one subscription']) WITH ORDINALITY AS m(mode, position)
CROSS JOIN LATERAL unnest(ARRAY[format('SELECT pg_temp.mode(%L)', m.mode), 'VACUUM latest_observations',
                                format('INSERT INTO cost SELECT %L, pg_temp.upserts()', m.mode)]) WITH ORDINALITY AS s(statement, step)
ORDER BY r.round, m.position, s.step
\gexec
SELECT pg_temp.mode('nobody subscribed');
DELETE FROM latest_observations WHERE device_id LIKE 'bench-%';
\o
SELECT mode, round(min(seconds)::numeric, 3) AS seconds,
       round((min(seconds) / (SELECT min(seconds) FROM cost WHERE mode = 'triggers disabled'))::numeric, 2) AS ratio_to_disabled
FROM cost GROUP BY mode ORDER BY 2;
