import Foundation
import Postgres

/// The access log and the visits report in PostgreSQL. A read model: it only reads, across `lock_grants`,
/// `lock_commands`, `lock_sequence_gaps`, `events` and `alarms`, whose writes live in their own homes.
public struct PostgresLockReportRepository: LockReportRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    private static func micros(_ column: String) -> String { PostgresSQL.epochMicros(column) }
    private static let from = PostgresSQL.timestamp(micros: "$2::bigint")
    private static let to = PostgresSQL.timestamp(micros: "$3::bigint")

    public func accessLog(deviceId: String, fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [AccessLogEntry] {
        let (from, to) = (Self.from, Self.to)
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT at_us, kind, staff_ref, detail::text AS detail FROM (
                    SELECT \(Self.micros("created_at")) AS at_us, 'grant-created' AS kind, staff_ref,
                           jsonb_strip_nulls(jsonb_build_object('grantId', id::text, 'source', source, 'visitRef', visit_ref,
                               'grantedBy', granted_by, 'reason', reason,
                               'validFrom', to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                               'validTo', to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))) AS detail, id AS tie
                    FROM lock_grants WHERE device_id = $1 AND created_at >= \(from) AND created_at < \(to)
                  UNION ALL
                    SELECT \(Self.micros("revoked_at")), 'grant-revoked', staff_ref,
                           jsonb_strip_nulls(jsonb_build_object('grantId', id::text, 'source', source, 'revokedBy', revoked_by)), id
                    FROM lock_grants WHERE device_id = $1 AND revoked_at >= \(from) AND revoked_at < \(to)
                  UNION ALL
                    SELECT \(Self.micros("requested_at")), CASE WHEN status = 'refused' THEN 'command-refused' ELSE 'command-requested' END,
                           staff_ref, jsonb_strip_nulls(jsonb_build_object('commandId', id, 'action', action,
                               'requestedBy', requested_by, 'grantId', grant_id::text,
                               'refusal', CASE WHEN status = 'refused' THEN reason END)), 0
                    FROM lock_commands WHERE device_id = $1 AND requested_at >= \(from) AND requested_at < \(to)
                  UNION ALL
                    SELECT \(Self.micros("finished_at")), 'command-ended', staff_ref,
                           jsonb_strip_nulls(jsonb_build_object('commandId', id, 'action', action, 'status', status, 'reason', reason)), 0
                    FROM lock_commands WHERE device_id = $1 AND status <> 'refused' AND finished_at >= \(from) AND finished_at < \(to)
                  UNION ALL
                    SELECT \(Self.micros("observed_at")), 'lock-event', attributes->>'staffRef',
                           jsonb_build_object('event', event, 'eventId', id::text) || attributes, id
                    FROM events WHERE device_id = $1 AND observed_at >= \(from) AND observed_at < \(to)
                      AND event NOT IN ('heartbeat', 'device_online')
                  UNION ALL
                    SELECT \(Self.micros("detected_at")), 'sequence-gap', NULL,
                           jsonb_build_object('firstMissing', first_missing::text, 'lastMissing', last_missing::text,
                                              'missing', (last_missing - first_missing + 1)::text), id
                    FROM lock_sequence_gaps WHERE device_id = $1 AND detected_at >= \(from) AND detected_at < \(to)
                ) log
                ORDER BY at_us, kind, tie LIMIT $4::integer
                """, [deviceId, fromMicros, toMicros, limit]).all.map { row throws(PostgresError) in
                    let text: String = try row.decode("detail")
                    let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
                    let kind: String = try row.decode("kind")
                    guard let parsed = AccessLogEntry.Kind(rawValue: kind) else {
                        throw PostgresError(kind: .decoding, message: "unknown access log kind \(kind)")
                    }
                    return AccessLogEntry(atMicros: try row.decode("at_us"), kind: parsed, staffRef: try row.decodeIfPresent("staff_ref"),
                                          detail: object.compactMapValues { $0 as? String })
                }
        }
    }

    public func visits(careRecipientRef: String, lockTypes: [String], tenants: Set<String>?, fromMicros: Int64, toMicros: Int64,
                       limit: Int) async throws -> [VisitRecord] {
        let (from, to) = (Self.from, Self.to)
        // A grant's window: valid_from/valid_to, cut short by a revocation.
        let windowEnd = "least(coalesce(g.valid_to, 'infinity'), coalesce(g.revoked_at, 'infinity'))"
        return try await pool.withConnection { connection in
            try connection.query("""
                WITH locks AS (
                    SELECT device_id FROM devices
                    WHERE care_recipient_ref = $1 AND type = ANY($5::text[])
                      AND ($6::text[] IS NULL OR tenant = ANY($6::text[]))
                ), visits AS (
                    SELECT g.*, a.raised_at AS alarm_raised,
                           least(
                               (SELECT min(e.observed_at) FROM events e
                                WHERE e.device_id = g.device_id AND e.event = 'unlocked' AND e.attributes->>'staffRef' = g.staff_ref
                                  AND e.observed_at >= coalesce(g.valid_from, '-infinity') AND e.observed_at < \(windowEnd)),
                               (SELECT min(c.finished_at) FROM lock_commands c
                                WHERE c.device_id = g.device_id AND c.staff_ref = g.staff_ref AND c.action = 'unlock'
                                  AND c.status = 'succeeded' AND c.requested_at >= coalesce(g.valid_from, '-infinity')
                                  AND c.requested_at < \(windowEnd))
                           ) AS first_unlock
                    FROM lock_grants g JOIN locks USING (device_id)
                    LEFT JOIN alarms a ON g.source = 'alarm' AND a.id::text = g.visit_ref
                    WHERE (g.source IN ('visit-plan', 'alarm') OR g.visit_ref IS NOT NULL)
                      AND coalesce(g.planned_start, g.valid_from, '-infinity') < \(to)
                      AND coalesce(g.planned_end, g.valid_to, 'infinity') > \(from)
                    ORDER BY coalesce(g.planned_start, g.valid_from), g.id
                    LIMIT $4::integer
                )
                SELECT v.id, v.device_id, v.staff_ref, v.source, v.visit_ref,
                       \(Self.micros("v.planned_start")) AS planned_start_us, \(Self.micros("v.planned_end")) AS planned_end_us,
                       \(Self.micros("v.valid_from")) AS valid_from_us, \(Self.micros("v.valid_to")) AS valid_to_us,
                       \(Self.micros("v.revoked_at")) AS revoked_us, \(Self.micros("v.alarm_raised")) AS alarm_raised_us,
                       \(Self.micros("v.first_unlock")) AS first_unlock_us,
                       \(Self.micros("""
                           (SELECT max(e.observed_at) FROM events e
                            WHERE e.device_id = v.device_id AND e.event = 'locked' AND e.observed_at >= v.first_unlock
                              AND e.observed_at < least(coalesce(v.valid_to, 'infinity'), coalesce(v.revoked_at, 'infinity'),
                                                        v.first_unlock + interval '12 hours'))
                           """)) AS last_lock_us
                FROM visits v
                ORDER BY coalesce(v.planned_start, v.valid_from), v.id
                """, [careRecipientRef, fromMicros, toMicros, limit, PostgresArray.text(lockTypes),
                      tenants.map { PostgresArray.text($0.sorted()) }]).all.map { row throws(PostgresError) in
                    VisitRecord(
                        grantId: try row.decode("id"), deviceId: try row.decode("device_id"), staffRef: try row.decode("staff_ref"),
                        source: try row.decode("source"), visitRef: try row.decodeIfPresent("visit_ref"),
                        plannedStartMicros: try row.decodeIfPresent("planned_start_us"),
                        plannedEndMicros: try row.decodeIfPresent("planned_end_us"),
                        validFromMicros: try row.decodeIfPresent("valid_from_us"), validToMicros: try row.decodeIfPresent("valid_to_us"),
                        revokedAtMicros: try row.decodeIfPresent("revoked_us"),
                        alarmRaisedAtMicros: try row.decodeIfPresent("alarm_raised_us"),
                        firstUnlockMicros: try row.decodeIfPresent("first_unlock_us"),
                        lastLockMicros: try row.decodeIfPresent("last_lock_us"))
                }
        }
    }
}
