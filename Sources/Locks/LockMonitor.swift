import Foundation
import Logging
import Models
import Metrics
import Postgres
import ServiceLifecycle
import Storage

/// Reads the locks' events after they are stored, exactly once, like the alarm engine: from its cursor in `events`,
/// in id order, moving the cursor in the same transaction as what it wrote. For each event of a lock it
/// - keeps the lock's event numbering (`sequence`): gaps are recorded, late events narrow them;
/// - ends the remote command a `command_result` answers (only a command of that same lock);
/// - checks an `unlocked` by a staff credential (`staffRef`) against that staff member's grants at the time the
///   lock gives, and when no grant allowed it, stores an `unplanned_unlock` event, from which the alarm engine
///   raises the catalogue's alarm.
/// Wakes on `NOTIFY cip_events`.
public final class LockMonitor: Service, Sendable {
    let pool: PostgresPool
    let subscription: PostgresListener.Subscription
    let schedule: GrantSchedule
    let logger: Logger
    let unplanned = Counter(label: "cip_lock_unplanned_unlocks_total")
    let gaps = Counter(label: "cip_lock_sequence_gaps_total")
    let skipped = Counter(label: "cip_lock_events_skipped_total")

    /// The events the monitor reads besides any that carry a `sequence`.
    static let events = ["unlocked", "command_result", "grant_list_loaded"]
    /// What the monitor itself stores, so that it never reads its own output as a lock's.
    public static let sourcePath = "lock-monitor"
    public static let lockTypes = ["digital-lock"]

    /// Subscribes to `cip_events` at once: create it before the listener runs.
    public init(pool: PostgresPool, listener: PostgresListener, schedule: GrantSchedule = GrantSchedule(), logger: Logger) {
        self.pool = pool
        self.subscription = listener.subscribe("cip_events")
        self.schedule = schedule
        self.logger = logger
    }

    public func run() async throws {
        await EventFollowing.run("lock monitor", pool: pool, subscription: subscription, idle: .seconds(1),
                                 logger: logger) { [self] connection in
            while try self.processBatch(on: connection) {}
        }
    }

    /// Handles the next lock events after the cursor in one transaction; true when there may be more.
    func processBatch(on connection: PostgresConnection, limit: Int = 500) throws -> Bool {
        try connection.transaction { connection in
            let cursor: Int64 = try connection.query("SELECT last_event FROM lock_monitor_cursor FOR UPDATE").single().decode("last_event")
            // Only ids committed so far: writers of `events` take its advisory lock, so ids commit in order.
            let head: Int64 = try connection.query("SELECT coalesce(max(id), 0) AS head FROM events").single().decode("head")
            guard head > cursor else { return false }
            let rows = try connection.query("""
                SELECT e.id, e.device_id, e.event, \(PostgresSQL.epochMicros("e.observed_at")) AS observed_us,
                       e.attributes::text AS attributes, e.message_key
                FROM events e JOIN devices d ON d.device_id = e.device_id AND d.type = ANY($4::text[])
                WHERE e.id > $1 AND e.id <= $2 AND e.source_path <> '\(Self.sourcePath)'
                  AND (e.event = ANY($3::text[]) OR e.attributes ? 'sequence')
                ORDER BY e.id LIMIT $5::integer
                """, [cursor, head, PostgresArray.text(Self.events), PostgresArray.text(Self.lockTypes), limit])
            var next = head
            var more = rows.count == limit
            if more { next = try rows[rows.count - 1].decode("id") }
            for row in rows.all {
                let event = try LockEvent(row)
                // One lock's event that the database refuses (a value no constraint allows, whatever a device
                // sent) is skipped with its reason, never retried forever: the other locks' events go on.
                try connection.query("SAVEPOINT lock_event")
                do {
                    if try apply(event, on: connection) {
                        // It wrote an event while holding the events' lock: commit now, so ingest waits no longer.
                        next = event.id
                        more = true
                        break
                    }
                    try connection.query("RELEASE SAVEPOINT lock_event")
                } catch let error as any TransientFailure where error.isTransient {
                    throw error
                } catch {
                    try connection.query("ROLLBACK TO SAVEPOINT lock_event")
                    skipped.increment()
                    logger.error("a lock event could not be applied and is skipped", metadata: [
                        "device": "\(event.deviceId)", "event": "\(event.id)", "error": "\(error)"])
                }
            }
            try connection.query("UPDATE lock_monitor_cursor SET last_event = $1", [next])
            return more
        }
    }

    /// One event of a lock, as stored.
    struct LockEvent {
        var id: Int64
        var deviceId: String
        var event: String
        var observedMicros: Int64
        var attributes: [String: String]
        var messageKey: [UInt8]

        init(_ row: PostgresRow) throws {
            id = try row.decode("id")
            deviceId = try row.decode("device_id")
            event = try row.decode("event")
            observedMicros = try row.decode("observed_us")
            let text: String = try row.decode("attributes")
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            attributes = object.compactMapValues { $0 as? String }
            messageKey = try row.decode("message_key")
        }
    }

    /// Applies one event; true when it stored an event of its own (and so holds the events' lock).
    private func apply(_ event: LockEvent, on connection: PostgresConnection) throws -> Bool {
        if let text = event.attributes["sequence"], let sequence = Int64(text) {
            try track(sequence, of: event, on: connection)
        }
        switch event.event {
        case "command_result":
            guard let commandId = event.attributes["commandId"] else { return false }
            let answer = CommandAnswer(commandId: commandId, deviceId: event.deviceId,
                                       succeeded: event.attributes["result"] == "succeeded",
                                       reason: event.attributes["reason"], atMicros: event.observedMicros)
            if try !PostgresCommandRepository.answer(answer, on: connection) {
                logger.notice("a lock answered a command that is not its own pending one", metadata: [
                    "device": "\(event.deviceId)", "command": "\(commandId.prefix(64))"])
            }
            return false
        case "grant_list_loaded":
            guard let text = event.attributes["grantListVersion"], let version = Int64(text) else { return false }
            if try !PostgresGrantListRepository.held(deviceId: event.deviceId, version: version, atMicros: event.observedMicros, on: connection) {
                logger.notice("a lock reports a grant list version never published to it", metadata: [
                    "device": "\(event.deviceId)", "version": "\(text.prefix(20))"])
            }
            return false
        case "unlocked":
            // A remote unlock was checked when it was requested (if the lock names a command that really is one of
            // its remote unlocks); a credential at the door is checked here.
            guard let staffRef = event.attributes["staffRef"] else { return false }
            if let commandId = event.attributes["commandId"],
               try PostgresCommandRepository.confirmsRemoteUnlock(commandId: commandId, deviceId: event.deviceId,
                                                                  atMicros: event.observedMicros, on: connection) {
                return false
            }
            let grants = try PostgresGrantRepository.grants(deviceId: event.deviceId, staffRef: staffRef, on: connection)
            guard case .refused(let refusal) = schedule.decide(staffRef: staffRef, grants: grants, atMicros: event.observedMicros) else {
                return false
            }
            let attributes: [String: String] = ["staffRef": staffRef, "refusal": refusal.rawValue,
                                                "unlockEventId": String(event.id)]
            let json = String(decoding: try JSONSerialization.data(withJSONObject: attributes, options: [.sortedKeys]), as: UTF8.self)
            try IngestStore.insertDerivedEvent(deviceId: event.deviceId, event: "unplanned_unlock", observedMicros: event.observedMicros,
                                               attributesJSON: json, confidentiality: 3, messageKey: event.messageKey,
                                               sourcePath: Self.sourcePath, on: connection)
            unplanned.increment()
            logger.warning("unplanned unlock: a staff credential opened a lock outside every grant", metadata: [
                "device": "\(event.deviceId)", "event": "\(event.id)", "refusal": "\(refusal.rawValue)"])
            return true
        default:
            return false
        }
    }

    /// Applies the ledger's outcome for one numbered event to `lock_sequences` and `lock_sequence_gaps`.
    private func track(_ sequence: Int64, of event: LockEvent, on connection: PostgresConnection) throws {
        let last: Int64? = try connection.query(
            "SELECT last_sequence FROM lock_sequences WHERE device_id = $1 FOR UPDATE", [event.deviceId])
            .first.map { row throws(PostgresError) in try row.decode("last_sequence") }
        var open: [EventSequence.Gap] = []
        if let last, sequence <= last {
            open = try connection.query("""
                SELECT id, first_missing, last_missing FROM lock_sequence_gaps
                WHERE device_id = $1 AND first_missing <= $2 AND last_missing >= $2
                """, [event.deviceId, sequence]).all.map { row throws(PostgresError) in
                    EventSequence.Gap(id: try row.decode("id"), first: try row.decode("first_missing"), last: try row.decode("last_missing"))
                }
        }
        let outcome = EventSequence.place(sequence, after: last, gaps: open)
        switch outcome {
        case .ignored:
            logger.notice("a lock sent an event number no lock counts to; ignored", metadata: [
                "device": "\(event.deviceId)", "event": "\(event.id)"])
            return
        case .gap(let gap):
            try insertGap(gap, device: event.deviceId, detectedBy: event.id, on: connection)
            gaps.increment()
            logger.warning("a lock's events are missing", metadata: [
                "device": "\(event.deviceId)", "from": "\(gap.first)", "to": "\(gap.last)"])
        case .filled(let gap, let remaining):
            if let id = gap.id { try connection.query("DELETE FROM lock_sequence_gaps WHERE id = $1", [id]) }
            for rest in remaining { try insertGap(rest, device: event.deviceId, detectedBy: event.id, on: connection) }
        case .restarted:
            logger.notice("a lock numbers its events from the start again", metadata: ["device": "\(event.deviceId)"])
        case .first, .inOrder, .repeated, .ignored:
            break
        }
        guard let newLast = EventSequence.last(after: outcome, sequence: sequence, previous: last) else { return }
        try connection.query("""
            INSERT INTO lock_sequences (device_id, last_sequence, last_event_id, updated_at) VALUES ($1, $2, $3, clock_timestamp())
            ON CONFLICT (device_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence,
                last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at
            """, [event.deviceId, newLast, event.id])
    }

    private func insertGap(_ gap: EventSequence.Gap, device: String, detectedBy: Int64, on connection: PostgresConnection) throws {
        try connection.query("""
            INSERT INTO lock_sequence_gaps (device_id, first_missing, last_missing, detected_by, detected_at)
            VALUES ($1, $2, $3, $4, clock_timestamp())
            """, [device, gap.first, gap.last, detectedBy])
    }
}
