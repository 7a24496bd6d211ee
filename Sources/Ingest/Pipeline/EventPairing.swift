/// Pairs the two copies of a device event that the gateway receives: one on its persistent ingest session
/// (`devices/#`, behind whatever telemetry the broker has queued for it, journaled before its PUBACK) and one on
/// the events connection (`devices/+/events` only, clean session, so nothing ever stands before an alarm).
///
/// Whichever copy comes first goes to the event fast path; the session's copy is always journaled (it is the
/// durable one), under the arrival time of the first copy, so both copies have one message key and the
/// pipeline's later write of the events is a no-op even for payloads whose times are relative to arrival.
/// Copies pair by content and, for identical payloads sent more than once, by order (each connection delivers a
/// topic's messages in order). A value type: the ingress holds it under a lock and acts on what it returns.
public struct EventPairing: Sendable {
    public enum Connection: Sendable { case session, events }

    public enum Action: Equatable, Sendable {
        /// Journal the session's copy under this arrival time; `fastPath` when no events-connection copy went first.
        case journal(receivedAtMicros: Int64, fastPath: Bool)
        /// The events connection's copy came first: to the fast path with this arrival time, not journaled.
        case fastPathOnly(receivedAtMicros: Int64)
        /// The events connection's copy of a message the session already handled.
        case skip
    }

    private struct Entry {
        /// Arrival times of events-connection copies whose session copy has not come yet, oldest first.
        var early: [Int64] = []
        /// Session copies whose events-connection copy has not come yet.
        var late = 0
        var generation: UInt64
    }

    /// At most this many contents are remembered; the oldest make way (a copy that comes after its pair was
    /// forgotten is handled as if it were alone: at worst the fast path writes an event the pipeline writes again).
    public let capacity: Int
    private var entries: [[UInt8]: Entry] = [:]
    private var order: [(key: [UInt8], generation: UInt64)] = []
    private var orderHead = 0
    private var nextGeneration: UInt64 = 0

    public init(capacity: Int = 4_096) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// A copy with content key `key` arrived on `connection` at `nowMicros`.
    public mutating func arrived(_ key: [UInt8], on connection: Connection, nowMicros: Int64) -> Action {
        var entry = entries[key] ?? Entry(generation: 0)
        let action: Action
        switch connection {
        case .session:
            if entry.early.isEmpty {
                entry.late += 1
                action = .journal(receivedAtMicros: nowMicros, fastPath: true)
            } else {
                action = .journal(receivedAtMicros: entry.early.removeFirst(), fastPath: false)
            }
        case .events:
            if entry.late > 0 {
                entry.late -= 1
                action = .skip
            } else {
                entry.early.append(nowMicros)
                action = .fastPathOnly(receivedAtMicros: nowMicros)
            }
        }
        if entry.early.isEmpty, entry.late == 0 {
            entries[key] = nil
        } else {
            if entries[key] == nil {
                entry.generation = nextGeneration
                nextGeneration += 1
                order.append((key, entry.generation))
            }
            entries[key] = entry
            evictBeyondCapacity()
        }
        return action
    }

    private mutating func evictBeyondCapacity() {
        while entries.count > capacity, orderHead < order.count {
            let oldest = order[orderHead]
            orderHead += 1
            if entries[oldest.key]?.generation == oldest.generation { entries[oldest.key] = nil }
        }
        // The order list holds stale keys of entries already paired; compact it once they are the majority.
        if orderHead > 1_024, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
        if order.count - orderHead > capacity * 2 {
            order = order[orderHead...].filter { entries[$0.key]?.generation == $0.generation }
            orderHead = 0
        }
    }
}
