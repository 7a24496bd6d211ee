import Models
import Postgres

/// Subject access in PostgreSQL: each row becomes its JSON object in the database (`json_build_object`,
/// `to_jsonb`), pages follow each section's own order, and every section keeps to the links' windows.
public struct PostgresSubjectAccessRepository: SubjectAccessRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func links(careRecipientRef: String) async throws -> [CareRecipientLink] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT l.device_id, d.type, d.tenant, l.care_recipient_ref, \(PostgresSQL.epochMicros("l.linked_at")) AS linked_us,
                       \(PostgresSQL.epochMicros("l.unlinked_at")) AS unlinked_us
                FROM care_recipient_links l JOIN devices d ON d.device_id = l.device_id
                WHERE l.care_recipient_ref = $1 ORDER BY l.linked_at, l.id
                """, [careRecipientRef]).all.map { row in
                CareRecipientLink(deviceId: try row.decode("device_id"), deviceType: try row.decode("type"), tenant: try row.decode("tenant"),
                                  careRecipientRef: try row.decode("care_recipient_ref"), linkedAtMicros: try row.decode("linked_us"),
                                  unlinkedAtMicros: try row.decodeIfPresent("unlinked_us"))
            }
        }
    }

    public func page(_ section: SubjectSection, careRecipientRef: String?, links: [CareRecipientLink], after cursor: String?,
                     limit: Int) async throws -> SubjectPage {
        let statement = Self.statements[section]!
        let windows: [(any PostgresBindable)?] = [
            PostgresArray.text(links.map(\.deviceId)), PostgresArray.text(links.map(\.linkedAtMicros)),
            PostgresArray.text(links.map(\.unlinkedAtMicros)),
        ]
        return try await pool.withConnection { connection in
            // Only the audit section names the care recipient itself ($6).
            let rows = try connection.query(statement, windows + [cursor, limit] + (section == .auditEntries ? [careRecipientRef ?? ""] : []))
            let items = try rows.all.map { row throws(PostgresError) in try row.decode("item", as: String.self) }
            let next = items.count < limit ? nil : try rows.all.last?.decode("cursor", as: String.self)
            return SubjectPage(items: items, next: next)
        }
    }

    /// The windows: $1 device ids, $2 linked-at and $3 unlinked-at (NULL: still linked) in microseconds.
    private static let windows = """
        WITH w AS (
            SELECT device_id, \(PostgresSQL.timestamp(micros: "from_us")) AS since,
                   coalesce(\(PostgresSQL.timestamp(micros: "to_us")), 'infinity') AS until
            FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS w(device_id, from_us, to_us))
        """

    /// Per section: the statement ($4 cursor or NULL, $5 limit; the audit section: $6 the care recipient), rows `item`
    /// and `cursor`.
    static let statements: [SubjectSection: String] = [
        // Keyset over the observations' own unique order; the cursor keeps the time as text (exact to the µs).
        .observations: windows + """
            SELECT json_build_object(
                       'deviceId', o.device_id, 'quantity', o.quantity,
                       'value', coalesce(to_jsonb(o.value_number), to_jsonb(o.value_string), to_jsonb(o.value_boolean),
                                         to_jsonb(encode(o.value_data, 'base64'))),
                       'sum', o.value_sum, 'unit', o.unit, 'observedAt', o.observed_at, 'receivedAt', o.received_at,
                       'class', o.confidentiality)::text AS item,
                   concat_ws('|', o.device_id, o.observed_at::text, o.quantity, encode(o.message_key, 'hex'), o.record_index) AS cursor
            FROM w JOIN observations o ON o.device_id = w.device_id AND o.observed_at >= w.since AND o.observed_at < w.until
            WHERE $4::text IS NULL
               OR (o.device_id, o.observed_at, o.quantity, o.message_key, o.record_index)
                  > (split_part($4, '|', 1), split_part($4, '|', 2)::timestamptz, split_part($4, '|', 3),
                     decode(split_part($4, '|', 4), 'hex'), split_part($4, '|', 5)::integer)
            ORDER BY o.device_id, o.observed_at, o.quantity, o.message_key, o.record_index
            LIMIT $5
            """,
        .events: windows + """
            SELECT json_build_object('id', e.id, 'deviceId', e.device_id, 'event', e.event, 'observedAt', e.observed_at,
                                     'receivedAt', e.received_at, 'attributes', e.attributes, 'class', e.confidentiality)::text AS item,
                   e.id::text AS cursor
            FROM w JOIN events e ON e.device_id = w.device_id AND e.observed_at >= w.since AND e.observed_at < w.until
            WHERE e.id > coalesce($4::bigint, 0)
            ORDER BY e.id LIMIT $5
            """,
        // An alarm with its whole timeline.
        .alarms: windows + """
            SELECT (to_jsonb(a) || jsonb_build_object('timeline',
                       (SELECT coalesce(jsonb_agg(to_jsonb(c) - 'alarm_id' ORDER BY c.id), '[]') FROM alarm_changes c WHERE c.alarm_id = a.id)))::text AS item,
                   a.id::text AS cursor
            FROM w JOIN alarms a ON a.device_id = w.device_id AND a.raised_at >= w.since AND a.raised_at < w.until
            WHERE a.id > coalesce($4::bigint, 0)
            ORDER BY a.id LIMIT $5
            """,
        .lockGrants: windows + """
            SELECT to_jsonb(g)::text AS item, g.id::text AS cursor
            FROM w JOIN lock_grants g ON g.device_id = w.device_id AND g.created_at >= w.since AND g.created_at < w.until
            WHERE g.id > coalesce($4::bigint, 0)
            ORDER BY g.id LIMIT $5
            """,
        .lockCommands: windows + """
            SELECT to_jsonb(c)::text AS item, c.requested_at::text || '|' || c.id AS cursor
            FROM w JOIN lock_commands c ON c.device_id = w.device_id AND c.requested_at >= w.since AND c.requested_at < w.until
            WHERE $4::text IS NULL OR (c.requested_at, c.id) > (split_part($4, '|', 1)::timestamptz, substr($4, strpos($4, '|') + 1))
            ORDER BY c.requested_at, c.id LIMIT $5
            """,
        // Entries naming the care recipient, or one of their devices at a time it was theirs.
        .auditEntries: windows + """
            SELECT (to_jsonb(a) - 'prev_hash' - 'hash')::text AS item, a.id::text AS cursor
            FROM audit_log a
            WHERE a.id > coalesce($4::bigint, 0)
              AND (($6 <> '' AND $6 = ANY(a.subjects))
                   OR EXISTS (SELECT 1 FROM w WHERE w.device_id = ANY(a.subjects) AND a.at >= w.since AND a.at < w.until))
            ORDER BY a.id LIMIT $5
            """,
    ]
}
