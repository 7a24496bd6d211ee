import Foundation
import Models
import Postgres
import Storage

/// Alarms in PostgreSQL (migration 0005): the one home of tables `alarms` and `alarm_changes`. Every change appends to `alarm_changes` under the changes' advisory
/// lock, so change ids commit in order and the stream never skips one.
public struct PostgresAlarmRepository: AlarmRepository {
    let pool: PostgresPool
    /// Alarm visits (responders' lock grants); nil: assigning a responder is refused.
    let visits: AlarmVisits<PostgresConnection>?

    public init(pool: PostgresPool, visits: AlarmVisits<PostgresConnection>? = nil) {
        self.pool = pool
        self.visits = visits
    }

    static let columns = """
        a.id, a.device_id, a.type, a.kind, a.priority, a.state, a.tenant, \(PostgresSQL.epochMicros("a.raised_at")) AS raised_us,
        \(PostgresSQL.epochMicros("a.opened_at")) AS opened_us, \(PostgresSQL.epochMicros("a.last_triggered_at")) AS last_us, a.trigger_count,
        \(PostgresSQL.epochMicros("a.ack_deadline")) AS deadline_us, \(PostgresSQL.epochMicros("a.escalated_at")) AS escalated_us,
        \(PostgresSQL.epochMicros("a.acknowledged_at")) AS acked_us, a.acknowledged_by, \(PostgresSQL.epochMicros("a.resolved_at")) AS resolved_us,
        a.resolved_by, a.outcome, a.note, \(PostgresSQL.epochMicros("a.cancelled_at")) AS cancelled_us, a.attributes::text AS attributes,
        a.confidentiality, a.responder_ref
        """

    static func alarm(_ row: PostgresRow) throws(PostgresError) -> Alarm {
        try Alarm(
            id: row.decode("id"), deviceId: row.decode("device_id"), type: row.decode("type"), kind: row.decode("kind"),
            priority: row.decode("priority"), state: row.decode("state"), tenant: row.decodeIfPresent("tenant"),
            raisedAtMicros: row.decode("raised_us"), openedAtMicros: row.decode("opened_us"),
            lastTriggeredAtMicros: row.decode("last_us"), triggerCount: row.decode("trigger_count"),
            ackDeadlineMicros: row.decode("deadline_us"), escalatedAtMicros: row.decodeIfPresent("escalated_us"),
            acknowledgedAtMicros: row.decodeIfPresent("acked_us"), acknowledgedBy: row.decodeIfPresent("acknowledged_by"),
            resolvedAtMicros: row.decodeIfPresent("resolved_us"), resolvedBy: row.decodeIfPresent("resolved_by"),
            outcome: row.decodeIfPresent("outcome"), note: row.decodeIfPresent("note"),
            cancelledAtMicros: row.decodeIfPresent("cancelled_us"), attributesJSON: row.decode("attributes"),
            confidentiality: row.decode("confidentiality"), responderRef: row.decodeIfPresent("responder_ref"))
    }

    static func change(_ row: PostgresRow) throws(PostgresError) -> AlarmChange {
        try AlarmChange(id: row.decode("c_id"), alarmId: row.decode("c_alarm_id"), change: row.decode("c_change"),
                        actor: row.decode("c_actor"), client: row.decodeIfPresent("c_client"), atMicros: row.decode("c_at_us"),
                        detailsJSON: row.decode("c_details"))
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
                  AND ($13::text IS NULL OR a.device_id = $13)
                  AND ($14::text IS NULL OR a.device_id IN (SELECT device_id FROM devices WHERE care_recipient_ref = $14))
                ORDER BY a.priority, a.raised_at, a.id LIMIT $10::integer
                """, [
                    PostgresArray.text(query.states.map(\.rawValue)), query.priority, query.type,
                    query.tenant, query.fromMicros, query.toMicros,
                    query.after?.priority, query.after?.raisedAtMicros, query.after?.id, query.limit,
                    query.tenants.map(PostgresArray.text), query.maxConfidentiality, query.deviceId, query.careRecipientRef,
                ]).all.map { row throws(PostgresError) in try Self.alarm(row) }
        }
    }

    public func alarm(_ id: Int64) async throws -> (alarm: Alarm, timeline: [AlarmChange], context: AlarmContext)? {
        try await pool.withConnection { connection in
            guard let row = try connection.query("SELECT \(Self.columns) FROM alarms a WHERE a.id = $1", [id]).first else {
                return nil
            }
            let alarm = try Self.alarm(row)
            let timeline = try connection.query(
                "SELECT \(Self.changeColumns) FROM alarm_changes c WHERE c.alarm_id = $1 ORDER BY c.id", [id]
            ).all.map { row throws(PostgresError) in try Self.change(row) }
            let device = try connection.query(
                "SELECT type, placement, care_recipient_ref FROM devices WHERE device_id = $1", [alarm.deviceId]).first
            let latest = try connection.query("""
                SELECT quantity, coalesce(value_string, value_number::text, value_boolean::text) AS value,
                       \(PostgresSQL.epochMicros("observed_at")) AS at_us
                FROM latest_observations
                WHERE device_id = $1 AND quantity = ANY('{position,latitude,longitude,position_accuracy,location_text,lock_state,door_state,battery}')
                ORDER BY quantity
                """, [alarm.deviceId]).all.compactMap { row throws(PostgresError) -> (String, String, Int64)? in
                // A value of none of the three kinds (a sum only) has nothing to show.
                guard let value = try row.decodeIfPresent("value", as: String.self) else { return nil }
                return (try row.decode("quantity"), value, try row.decode("at_us"))
            }
            let context = AlarmContext(deviceType: try device?.decode("type"), placement: try device?.decodeIfPresent("placement"),
                                       careRecipientRef: try device?.decodeIfPresent("care_recipient_ref"),
                                       latest: latest.map { (quantity: $0.0, value: $0.1, observedAtMicros: $0.2) })
            return (alarm, timeline, context)
        }
    }

    public func apply(_ actions: [AlarmAction], to id: Int64, client: String?, visible: @escaping @Sendable (Alarm) -> Bool) async throws -> Alarm? {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                try connection.query(AdvisoryLock.statement(AdvisoryLock.alarmChanges))
                guard let row = try connection.query(
                    "SELECT \(Self.columns) FROM alarms a WHERE a.id = $1 FOR UPDATE", [id]).first else { return nil }
                let current = try Self.alarm(row)
                guard visible(current) else { return nil }
                var status = AlarmStatus(state: current.state, acknowledgedBy: current.acknowledgedBy, responder: current.responderRef)
                // The transaction's time: the acknowledgement, the grants' start and the resolution agree to the microsecond.
                let now: Int64 = try connection.query("SELECT \(PostgresSQL.epochMicros("now()")) AS now_us").single().decode("now_us")
                let by = client ?? "api"
                for action in actions {
                    let (next, change) = try AlarmLifecycle.apply(action, to: status).get()
                    defer { status = next }
                    guard change != nil else { continue }
                    switch action {
                    case .acknowledge(let operatorID):
                        try connection.query("""
                            UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1
                            """, [id, operatorID])
                        try Self.append(.acknowledged, alarm: id, actor: operatorID, client: client, details: "{}", on: connection)
                    case .assignResponder(let operatorID, let assignment):
                        guard let visits else { throw AlarmConflict("alarm visits (responders with lock grants) are not enabled") }
                        // The previous responder's grants end now; the new one's start now.
                        _ = try visits.grants.end(alarmId: id, atMicros: now, by: by, in: connection)
                        let until = now + visits.times.capMicros
                        let granted = try visits.grants.grant(
                            staffRef: assignment.responder, lockIds: assignment.lockIds, alarmId: id, fromMicros: now,
                            toMicros: until, grantedBy: by, reason: AlarmVisits<PostgresConnection>.reason(alarmId: id), in: connection)
                        try connection.query("UPDATE alarms SET responder_ref = $2 WHERE id = $1", [id, assignment.responder])
                        try Self.append(.responderAssigned, alarm: id, actor: operatorID, client: client,
                                        details: try Self.json(visits.assignedDetails(assignment, previous: status.responder,
                                                                                      granted: granted, untilMicros: until)),
                                        on: connection)
                    case .resolve(let operatorID, let outcome, let note):
                        try connection.query("""
                            UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = $2, outcome = $3, note = $4
                            WHERE id = $1
                            """, [id, operatorID, outcome, note])
                        let ended = try visits.map { visits in
                            try visits.grants.end(alarmId: id, atMicros: now + visits.times.marginMicros, by: by, in: connection)
                        } ?? []
                        try Self.append(.resolved, alarm: id, actor: operatorID, client: client,
                                        details: try Self.json((["outcome": outcome, "note": note] as [String: Any?]).merging(Self.endedDetails(ended)) { $1 }),
                                        on: connection)
                    case .cancel:
                        try connection.query("""
                            UPDATE alarms SET state = 'cancelled', cancelled_at = now(), outcome = 'cancelled_by_device' WHERE id = $1
                            """, [id])
                        let ended = try visits.map { visits in
                            try visits.grants.end(alarmId: id, atMicros: now + visits.times.marginMicros, by: "device", in: connection)
                        } ?? []
                        try Self.append(.cancelled, alarm: id, actor: "device", details: try Self.json(Self.endedDetails(ended)),
                                        on: connection)
                    }
                }
                return try Self.alarm(connection.query("SELECT \(Self.columns) FROM alarms a WHERE a.id = $1", [id]).single())
            }
        }
    }

    /// Timeline details of the grants an alarm's end ended: which, and until when the responder may still open.
    static func endedDetails(_ ended: [ResponderGrant]) -> [String: Any?] {
        guard let until = ended.compactMap(\.revokedAtMicros).max() else { return [:] }
        return ["grantsEnded": ended.map { String($0.id) }.joined(separator: ","), "grantsEndAt": RFC3339.format(micros: until)]
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
            """, [afterId, limit]).all.map { row throws(PostgresError) in (try Self.change(row), try Self.alarm(row)) }
    }

    public func stats(fromMicros: Int64, toMicros: Int64, tenants: [String]?, maxConfidentiality: Int) async throws -> AlarmStats {
        try await pool.withConnection { connection in
            var stats = AlarmStats()
            let range: [(any PostgresBindable)?] = [fromMicros, toMicros, tenants.map(PostgresArray.text), maxConfidentiality]
            let within = """
                raised_at >= to_timestamp($1::bigint / 1e6) AND raised_at < to_timestamp($2::bigint / 1e6)
                AND ($3::text[] IS NULL OR tenant = ANY($3::text[])) AND confidentiality <= $4::smallint
                """
            stats.groups = try connection.query("""
                SELECT type, priority, count(*) AS n, count(escalated_at) AS escalated FROM alarms
                WHERE \(within) GROUP BY type, priority ORDER BY priority, type
                """, range).all.map { row throws(PostgresError) in
                try AlarmStats.Group(type: row.decode("type"), priority: row.decode("priority"), count: row.decode("n"),
                                     escalated: row.decode("escalated"))
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
                stats.acknowledgeMedianSeconds = try row.decodeIfPresent("ack50")
                stats.acknowledgeP90Seconds = try row.decodeIfPresent("ack90")
                stats.resolveMedianSeconds = try row.decodeIfPresent("res50")
                stats.resolveP90Seconds = try row.decodeIfPresent("res90")
            }
            return stats
        }
    }

    // MARK: Changes from devices and the clock (the alarm engine's transaction, holding the changes' lock)

    /// Counts a repeat of an open or acknowledged alarm of this device and type; false when there is none.
    static func retrigger(device: String, type: String, observedMicros: Int64, eventId: Int64,
                          on connection: PostgresConnection) throws -> Bool {
        guard let existing = try connection.query("""
            UPDATE alarms SET trigger_count = trigger_count + 1,
                   last_triggered_at = greatest(last_triggered_at, to_timestamp($3::bigint / 1e6))
            WHERE device_id = $1 AND type = $2 AND state IN ('open', 'acknowledged')
            RETURNING id, trigger_count
            """, [device, type, observedMicros]).first else { return false }
        let id: Int64 = try existing.decode("id"), count: Int = try existing.decode("trigger_count")
        try append(.retriggered, alarm: id, actor: "device",
                   details: try json(["eventId": String(eventId), "count": String(count)]), on: connection)
        return true
    }

    /// Opens an alarm for the device's event (tenant from the registry); false when the event was raised before.
    static func raise(device: String, type: String, kind: String, priority: Int, observedMicros: Int64,
                      ackTargetSeconds: Double, attributesJSON: String, confidentiality: Int, eventId: Int64,
                      on connection: PostgresConnection) throws -> Bool {
        guard let id = try connection.query("""
            INSERT INTO alarms (device_id, type, kind, priority, tenant, raised_at, last_triggered_at, ack_deadline,
                                attributes, confidentiality, source_event_id)
            VALUES ($1, $2, $3, $4::smallint, (SELECT tenant FROM devices WHERE device_id = $1),
                    to_timestamp($5::bigint / 1e6), to_timestamp($5::bigint / 1e6),
                    now() + make_interval(secs => $6::double precision),
                    $7::jsonb || \(Self.lastKnownPosition), $8::smallint, $9::bigint)
            RETURNING id
            """, [device, type, kind, priority, observedMicros, ackTargetSeconds, attributesJSON, confidentiality, eventId])
            .first?.decode("id", as: Int64.self) else { return false }
        try append(.opened, alarm: id, actor: "device", details: try json(["eventId": String(eventId), "priority": priority]),
                   on: connection)
        return true
    }

    /// The device's last known position (class 3), for an alarm of class 3: where the person was, when, and whether
    /// that is old (more than two minutes before the alarm) — an SOS without a fix is raised at once with it.
    static let lastKnownPosition = """
        CASE WHEN $8::smallint >= 3 THEN coalesce((
            SELECT jsonb_build_object(
                'lastPosition', value_string,
                'lastPositionAt', to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'lastPositionAgeSeconds', greatest(0, round(extract(epoch FROM to_timestamp($5::bigint / 1e6) - observed_at)))::bigint::text,
                'lastPositionOld', (to_timestamp($5::bigint / 1e6) - observed_at > interval '2 minutes'
                                    OR observed_at - to_timestamp($5::bigint / 1e6) > interval '5 minutes')::text)
            FROM latest_observations WHERE device_id = $1 AND quantity = 'position' AND value_string IS NOT NULL), '{}'::jsonb)
        ELSE '{}'::jsonb END
        """

    /// Back in the zone: a note on the device's open or acknowledged exit alarm (there may be none: nothing then).
    static func noteZoneReturn(device: String, eventId: Int64, attributesJSON: String, on connection: PostgresConnection) throws {
        let attributes = (try? JSONSerialization.jsonObject(with: Data(attributesJSON.utf8))) as? [String: Any] ?? [:]
        // Only the alarm of the zone returned to: back inside one zone says nothing about another.
        guard let alarm = try connection.query("""
            SELECT id FROM alarms WHERE device_id = $1 AND type = $2 AND state IN ('open', 'acknowledged')
              AND attributes->>'zoneId' = $3
            """, [device, AlarmRules.zoneExitAlarm, attributes["zoneId"] as? String ?? ""]).first else { return }
        var details: [String: Any?] = ["eventId": String(eventId)]
        for key in ["zoneId", "zoneName", "latitude", "longitude", "accuracy", "positionAt"] { details[key] = attributes[key] as? String }
        try append(.zoneReturned, alarm: try alarm.decode("id"), actor: "device", details: try json(details), on: connection)
    }

    /// The device cancelled (SCAIP `RE`): its open care alarms end as cancelled by the device.
    static func cancelOpenCareAlarms(device: String, eventId: Int64, on connection: PostgresConnection) throws {
        let cancelled = try connection.query("""
            UPDATE alarms SET state = 'cancelled', cancelled_at = now(), outcome = 'cancelled_by_device'
            WHERE device_id = $1 AND state = 'open' AND kind = 'care' AND type <> ALL($2::text[]) RETURNING id
            """, [device, PostgresArray.text(AlarmRules.gatewayConcludedAlarms)])
        for row in cancelled.all {
            try append(.cancelled, alarm: try row.decode("id"), actor: "device",
                       details: try json(["eventId": String(eventId)]), on: connection)
        }
    }

    /// Flags open alarms past their acknowledgement deadline, once each, with a timeline entry; returns how many.
    static func escalateDue(on connection: PostgresConnection) throws -> Int {
        try connection.query("""
            WITH due AS (
                UPDATE alarms SET escalated_at = now()
                WHERE state = 'open' AND escalated_at IS NULL AND ack_deadline <= now()
                RETURNING id, priority, ack_deadline, opened_at
            )
            INSERT INTO alarm_changes (alarm_id, change, actor, details)
            SELECT id, 'escalated', 'gateway',
                   jsonb_build_object('priority', priority,
                                      'targetSeconds', round(extract(epoch FROM ack_deadline - opened_at)))
            FROM due ORDER BY id
            RETURNING alarm_id
            """).count
    }

    /// Appends a timeline entry; the caller holds the changes' advisory lock in its transaction.
    static func append(_ change: AlarmChangeKind, alarm: Int64, actor: String, client: String? = nil, details: String,
                       on connection: PostgresConnection) throws {
        try connection.query("INSERT INTO alarm_changes (alarm_id, change, actor, client, details) VALUES ($1, $2, $3, $4, $5::jsonb)",
                             [alarm, change.rawValue, actor, client, details])
    }

    /// Timeline details as a JSON object; nil values are left out.
    static func json(_ object: [String: Any?]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object.compactMapValues { $0 }, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
