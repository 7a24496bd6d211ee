-- The bytes an audit entry's hash covers, as before (0016), computed in PL/pgSQL. As a SQL function called from
-- the chain trigger, PostgreSQL 15 planned its query afresh in every transaction (about half a millisecond, on the
-- path of every audited read that waits for its line); PL/pgSQL keeps its plans for the session. The same bytes:
-- every field as its length in bytes, ':' and its text, a NULL field left out (as string_agg did), the subjects after
-- their number of dimensions, element by element in storage order, a NULL element as '-'.
CREATE OR REPLACE FUNCTION cip_audit_canonical(e audit_log) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    -- The subjects' parts are collected in an array and joined once: appending to a text element by element costs
    -- the square of their number (an auditor's page of list reads can name thousands), under the chain's lock.
    parts text[] := '{}';
    element text;
    field text;
    canonical text := '';
BEGIN
    IF e.subjects IS NOT NULL THEN
        FOREACH element IN ARRAY e.subjects LOOP
            parts := parts || coalesce(octet_length(element) || ':' || element, '-');
        END LOOP;
    END IF;
    FOREACH field IN ARRAY ARRAY[e.id::text, ((extract(epoch FROM e.at) * 1000000)::numeric(20, 0))::text, e.client, e.roles,
                                 e.method, e.endpoint, e.path, coalesce(array_ndims(e.subjects), 0)::text || array_to_string(parts, ''),
                                 e.records::text, e.class::text, e.status::text] LOOP
        canonical := canonical || coalesce(octet_length(field) || ':' || field, '');
    END LOOP;
    RETURN convert_to(canonical, 'UTF8');
END $$;
