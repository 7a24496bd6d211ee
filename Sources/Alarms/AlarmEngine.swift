import Dispatch
import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import Storage

/// Turns device events into alarms, exactly once: reads `events` in id order from its cursor, applies the
/// catalogue's rules (`AlarmRules`), and moves the cursor in the same transaction as the alarms it wrote. Wakes on
/// `NOTIFY cip_events` (a trigger on `events`), so an alarm is raised as soon as its event is committed, and
/// escalates open alarms past their time-to-acknowledge target (the deadlines are stored, so a restart loses no
/// timer).
public final class AlarmEngine: Service, Sendable {
    let pool: PostgresPool
    let subscription: PostgresListener.Subscription
    let rules: AlarmRules
    let logger: Logger
    let escalations = Counter(label: "cip_alarms_escalated_total")
    let raised = Counter(label: "cip_alarms_raised_total")

    /// Subscribes to `cip_events` at once: create it before the listener runs.
    public init(pool: PostgresPool, listener: PostgresListener, rules: AlarmRules, logger: Logger) {
        self.pool = pool
        self.subscription = listener.subscribe("cip_events")
        self.rules = rules
        self.logger = logger
    }

    /// The events that can change alarms; everything else (heartbeats, lock events...) is skipped in SQL.
    var relevantEvents: [String] {
        rules.catalogue.events.filter { $0.alarm != nil }.map(\.id) + [AlarmRules.cancellationEvent, AlarmRules.zoneReturnEvent]
    }

    public func run() async throws {
        // Woken by new events; otherwise at least every quarter second for escalations.
        await EventFollowing.run("alarm engine", pool: pool, subscription: subscription, idle: .milliseconds(250),
                                 logger: logger) { [self] connection in
            while try self.processBatch(on: connection) {}
            try self.escalate(on: connection)
        }
    }

    /// Handles the next events after the cursor in one transaction; true when there may be more.
    func processBatch(on connection: PostgresConnection, limit: Int = 500) throws -> Bool {
        try connection.transaction { connection in
            try connection.query(AdvisoryLock.statement(AdvisoryLock.alarmChanges))
            let cursor: Int64 = try connection.query("SELECT last_event FROM alarm_engine_cursor FOR UPDATE").single().decode("last_event")
            // Only ids committed so far: the events' advisory lock makes them commit in id order.
            let head: Int64 = try connection.query("SELECT coalesce(max(id), 0) AS head FROM events").single().decode("head")
            guard head > cursor else { return false }
            let rows = try connection.query("""
                SELECT id, device_id, event, \(PostgresSQL.epochMicros("observed_at")) AS observed_us,
                       attributes::text AS attributes, confidentiality
                FROM events WHERE id > $1 AND id <= $2 AND event = ANY($3::text[]) ORDER BY id LIMIT $4::integer
                """, [cursor, head, PostgresArray.text(relevantEvents), limit])
            for row in rows.all {
                try apply(row, on: connection)
            }
            let more = rows.count == limit
            let next: Int64 = more ? try rows[rows.count - 1].decode("id") : head
            try connection.query("UPDATE alarm_engine_cursor SET last_event = $1", [next])
            return more
        }
    }

    private func apply(_ row: PostgresRow, on connection: PostgresConnection) throws {
        let eventId: Int64 = try row.decode("id"), device: String = try row.decode("device_id")
        let event: String = try row.decode("event"), observed: Int64 = try row.decode("observed_us")
        switch rules.decide(event: event) {
        case .raise(let type, let kind, let priority):
            // One open alarm per device and type: a repeat counts as a retrigger of it.
            if try PostgresAlarmRepository.retrigger(device: device, type: type, observedMicros: observed, eventId: eventId,
                                                     on: connection) {
                return
            }
            if try PostgresAlarmRepository.raise(
                device: device, type: type, kind: kind, priority: priority, observedMicros: observed,
                ackTargetSeconds: rules.acknowledgeTarget(priority: priority),
                attributesJSON: row.decode("attributes"), confidentiality: row.decode("confidentiality"), eventId: eventId,
                on: connection) {
                raised.increment()
            }
        case .cancelOpenCareAlarms:
            try PostgresAlarmRepository.cancelOpenCareAlarms(device: device, eventId: eventId, on: connection)
        case .noteZoneReturn:
            try PostgresAlarmRepository.noteZoneReturn(device: device, eventId: eventId, attributesJSON: row.decode("attributes"),
                                                       on: connection)
        case .none:
            break
        }
    }

    /// Open alarms past their deadline are flagged once, with a timeline entry (which the stream carries).
    func escalate(on connection: PostgresConnection) throws {
        let escalated = try connection.transaction { connection in
            try connection.query(AdvisoryLock.statement(AdvisoryLock.alarmChanges))
            return try PostgresAlarmRepository.escalateDue(on: connection)
        }
        if escalated > 0 {
            escalations.increment(by: escalated)
            logger.warning("alarms escalated: not acknowledged in time", metadata: ["count": "\(escalated)"])
        }
    }

}
