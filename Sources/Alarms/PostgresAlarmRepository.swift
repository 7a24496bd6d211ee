import Foundation
import Postgres
import Storage

/// Alarms in PostgreSQL (migration 0005). Every change appends to `alarm_changes` under the changes' advisory
/// lock, so change ids commit in order and the stream never skips one.
public struct PostgresAlarmRepository: AlarmRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static let columns = """
        a.id, a.device_id, a.type, a.kind, a.priority, a.state, a.tenant, \(PostgresSQL.epochMicros("a.raised_at")) AS raised_us,
        \(PostgresSQL.epochMicros("a.opened_at")) AS opened_us, \(PostgresSQL.epochMicros("a.last_triggered_at")) AS last_us, a.trigger_count,
        \(PostgresSQL.epochMicros("a.ack_deadline")) AS deadline_us, \(PostgresSQL.epochMicros("a.escalated_at")) AS escalated_us,
        \(PostgresSQL.epochMicros("a.acknowledged_at")) AS acked_us, a.acknowledged_by, \(PostgresSQL.epochMicros("a.resolved_at")) AS resolved_us,
        a.resolved_by, a.outcome, a.note, \(PostgresSQL.epochMicros("a.cancelled_at")) AS cancelled_us, a.attributes::text AS attributes,
        a.confidentiality
        """

    static func alarm(_ row: PostgresRow) -> Alarm {
        func int64(_ name: String) -> Int64? { row[name].flatMap { Int64($0) } }
        return Alarm(
            id: int64("id") ?? 0, deviceId: row["device_id"] ?? "", type: row["type"] ?? "", kind: row["kind"] ?? "",
            priority: row["priority"].flatMap { Int($0) } ?? 5, state: row["state"].flatMap(AlarmState.init(rawValue:)) ?? .open,
            tenant: row["tenant"], raisedAtMicros: int64("raised_us") ?? 0, openedAtMicros: int64("opened_us") ?? 0,
            lastTriggeredAtMicros: int64("last_us") ?? 0, triggerCount: row["trigger_count"].flatMap { Int($0) } ?? 1,
            ackDeadlineMicros: int64("deadline_us") ?? 0, escalatedAtMicros: int64("escalated_us"),
            acknowledgedAtMicros: int64("acked_us"), acknowledgedBy: row["acknowledged_by"],
            resolvedAtMicros: int64("resolved_us"), resolvedBy: row["resolved_by"], outcome: row["outcome"],
            note: row["note"], cancelledAtMicros: int64("cancelled_us"), attributesJSON: row["attributes"] ?? "{}",
            confidentiality: row["confidentiality"].flatMap { Int($0) } ?? 3)
    }

    static func change(_ row: PostgresRow, prefix: String = "c_") -> AlarmChange {
        AlarmChange(id: row[prefix + "id"].flatMap { Int64($0) } ?? 0, alarmId: row[prefix + "alarm_id"].flatMap { Int64($0) } ?? 0,
                    change: row[prefix + "change"].flatMap(AlarmChangeKind.init(rawValue:)) ?? .opened,
                    actor: row[prefix + "actor"] ?? "", client: row[prefix + "client"], atMicros: row[prefix + "at_us"].flatMap { Int64($0) } ?? 0,
                    detailsJSON: row[prefix + "details"] ?? "{}")
    }

    static let changeColumns = """
        c.id AS c_id, c.alarm_id AS c_alarm_id, c.change AS c_change, c.actor AS c_actor, c.client AS c_client,
        \(PostgresSQL.epochMicros("c.at")) AS c_at_us, c.details::text AS c_details
        """

    public func list(_ query: AlarmQuery) async throws -> [Alarm] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM alarms a
                WHERE a.state = ANY($1::text[])
                  AND ($2::smallint IS NULL OR a.priority = $2) AND ($3::text IS NULL OR a.type = $3)
                  AND ($4::text IS NULL OR a.tenant = $4)
                  AND ($5::bigint IS NULL OR a.raised_at >= to_timestamp($5::bigint / 1e6))
                  AND ($6::bigint IS NULL OR a.raised_at < to_timestamp($6::bigint / 1e6))
                  AND ($7::smallint IS NULL OR (a.priority, a.raised_at, a.id) > ($7, to_timestamp($8::bigint / 1e6), $9::bigint))
                  AND ($11::text[] IS NULL OR a.tenant = ANY($11::text[])) AND a.confidentiality <= $12::smallint
                ORDER BY a.priority, a.raised_at, a.id LIMIT $10::integer
                """, [
                    PostgresArray.text(query.states.map(\.rawValue)), query.priority.map(String.init), query.type,
                    query.tenant, query.fromMicros.map(String.init), query.toMicros.map(String.init),
                    query.after.map { String($0.priority) }, query.after.map { String($0.raisedAtMicros) },
                    query.after.map { String($0.id) }, String(query.limit),
                    query.tenants.map(PostgresArray.text), String(query.maxConfidentiality),
                ]).all.map(Self.alarm)
        }
    }

    public func alarm(_ id: Int64) async throws -> (alarm: Alarm, timeline: [AlarmChange], context: AlarmContext)? {
        try await pool.withConnection { connection in
            guard let row = try connection.query("SELECT \(Self.columns) FROM alarms a WHERE a.id = $1", [String(id)]).first else {
                return nil
            }
            let alarm = Self.alarm(row)
            let timeline = try connection.query(
                "SELECT \(Self.changeColumns) FROM alarm_changes c WHERE c.alarm_id = $1 ORDER BY c.id", [String(id)]
            ).all.map { Self.change($0) }
            let device = try connection.query(
                "SELECT type, placement, care_recipient_ref FROM devices WHERE device_id = $1", [alarm.deviceId]).first
            let latest = try connection.query("""
                SELECT quantity, coalesce(value_string, value_number::text, value_boolean::text) AS value,
                       \(PostgresSQL.epochMicros("observed_at")) AS at_us
                FROM latest_observations
                WHERE device_id = $1 AND quantity = ANY('{position,latitude,longitude,position_accuracy,location_text,lock_state,door_state,battery}')
                ORDER BY quantity
                """, [alarm.deviceId]).all.compactMap { row -> (String, String, Int64)? in
                guard let quantity = row["quantity"], let value = row["value"] else { return nil }
                return (quantity, value, row["at_us"].flatMap { Int64($0) } ?? 0)
            }
            let context = AlarmContext(deviceType: device?["type"], placement: device?["placement"],
                                       careRecipientRef: device?["care_recipient_ref"],
                                       latest: latest.map { (quantity: $0.0, value: $0.1, observedAtMicros: $0.2) })
            return (alarm, timeline, context)
        }
    }

    public func apply(_ action: AlarmAction, to id: Int64, client: String?, visible: @escaping @Sendable (Alarm) -> Bool) async throws -> Alarm? {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                try connection.query(AdvisoryLock.statement(AdvisoryLock.alarmChanges))
                guard let row = try connection.query(
                    "SELECT \(Self.columns) FROM alarms a WHERE a.id = $1 FOR UPDATE", [String(id)]).first else { return nil }
                let current = Self.alarm(row)
                guard visible(current) else { return nil }
                let status = AlarmStatus(state: current.state, acknowledgedBy: current.acknowledgedBy)
                let (_, change) = try AlarmLifecycle.apply(action, to: status).get()
                switch action {
                case .acknowledge(let operatorID) where change != nil:
                    try connection.query("""
                        UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1
                        """, [String(id), operatorID])
                    try Self.append(.acknowledged, alarm: id, actor: operatorID, client: client, details: "{}", on: connection)
                case .resolve(let operatorID, let outcome, let note):
                    try connection.query("""
                        UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = $2, outcome = $3, note = $4
                        WHERE id = $1
                        """, [String(id), operatorID, outcome, note])
                    try Self.append(.resolved, alarm: id, actor: operatorID, client: client,
                                    details: try Self.json(["outcome": outcome, "note": note]), on: connection)
                case .cancel:
                    try connection.query("""
                        UPDATE alarms SET state = 'cancelled', cancelled_at = now(), outcome = 'cancelled_by_device' WHERE id = $1
                        """, [String(id)])
                    try Self.append(.cancelled, alarm: id, actor: "device", details: "{}", on: connection)
                default:
                    break
                }
                return Self.alarm(try connection.query("SELECT \(Self.columns) FROM alarms a WHERE a.id = $1", [String(id)])[0])
            }
        }
    }

    public func changes(after afterId: Int64, limit: Int) async throws -> [(change: AlarmChange, alarm: Alarm)] {
        try await pool.withConnection { connection in
            try Self.changes(after: afterId, limit: limit, on: connection)
        }
    }

    static func changes(after afterId: Int64, limit: Int, on connection: PostgresConnection) throws
        -> [(change: AlarmChange, alarm: Alarm)]
    {
        try connection.query("""
            SELECT \(Self.changeColumns), \(Self.columns)
            FROM alarm_changes c JOIN alarms a ON a.id = c.alarm_id
            WHERE c.id > $1 ORDER BY c.id LIMIT $2::integer
            """, [String(afterId), String(limit)]).all.map { (Self.change($0), Self.alarm($0)) }
    }

    public func stats(fromMicros: Int64, toMicros: Int64, tenants: [String]?, maxConfidentiality: Int) async throws -> AlarmStats {
        try await pool.withConnection { connection in
            var stats = AlarmStats()
            let range = [String(fromMicros), String(toMicros), tenants.map(PostgresArray.text), String(maxConfidentiality)]
            let within = """
                raised_at >= to_timestamp($1::bigint / 1e6) AND raised_at < to_timestamp($2::bigint / 1e6)
                AND ($3::text[] IS NULL OR tenant = ANY($3::text[])) AND confidentiality <= $4::smallint
                """
            stats.groups = try connection.query("""
                SELECT type, priority, count(*) AS n, count(escalated_at) AS escalated FROM alarms
                WHERE \(within) GROUP BY type, priority ORDER BY priority, type
                """, range).all.map { row in
                AlarmStats.Group(type: row["type"] ?? "", priority: row["priority"].flatMap { Int($0) } ?? 0,
                                 count: row["n"].flatMap { Int($0) } ?? 0, escalated: row["escalated"].flatMap { Int($0) } ?? 0)
            }
            stats.total = stats.groups.reduce(0) { $0 + $1.count }
            stats.escalated = stats.groups.reduce(0) { $0 + $1.escalated }
            if let row = try connection.query("""
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS ack50,
                       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS ack90,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)) AS res50,
                       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)) AS res90
                FROM alarms WHERE \(within)
                """, range).first {
                stats.acknowledgeMedianSeconds = row["ack50"].flatMap(Double.init)
                stats.acknowledgeP90Seconds = row["ack90"].flatMap(Double.init)
                stats.resolveMedianSeconds = row["res50"].flatMap(Double.init)
                stats.resolveP90Seconds = row["res90"].flatMap(Double.init)
            }
            return stats
        }
    }

    /// Appends a timeline entry; the caller holds the changes' advisory lock in its transaction.
    static func append(_ change: AlarmChangeKind, alarm: Int64, actor: String, client: String? = nil, details: String,
                       on connection: PostgresConnection) throws {
        try connection.query("INSERT INTO alarm_changes (alarm_id, change, actor, client, details) VALUES ($1, $2, $3, $4, $5::jsonb)",
                             [String(alarm), change.rawValue, actor, client, details])
    }

    /// Timeline details as a JSON object; nil values are left out.
    static func json(_ object: [String: Any?]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object.compactMapValues { $0 }, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
