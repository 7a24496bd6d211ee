import Postgres
import Storage
import Telemetry

/// Finds the messages of a batch that PostgreSQL refuses, so that one poison message costs a dead letter instead
/// of stopping ingest: the batch failed as a whole with a data error, so it is written again in halves, and each
/// half that fails is halved again until the message that fails alone is known. A half that succeeds is committed
/// at once (writes are idempotent, so a crash in the middle only repeats them). k poison messages among n cost
/// about 2·k·log2(n) small transactions.
///
/// A value-type state machine: it says which group of messages to write next and is told how that went; the
/// pipeline does the writing.
struct PoisonIsolation: Sendable, Equatable {
    enum Action: Sendable, Equatable {
        /// Write the messages at these indices (of the batch's message groups) in one transaction.
        case write([Int])
        /// Every message was written or found poisonous.
        case finished
    }

    /// Groups still to write, first first; each is a run of consecutive message indices.
    private var pending: [[Int]]
    /// Messages PostgreSQL refused on their own, with its reason.
    private(set) var poisoned: [Int: String] = [:]

    /// - Parameter messages: how many messages (groups of rows sharing a message key) the batch holds.
    /// - Parameter reason: why the whole batch was refused.
    init(messages: Int, refusedWith reason: String) {
        pending = []
        refuse(Array(0..<messages), reason)
    }

    var next: Action { pending.first.map(Action.write) ?? .finished }

    /// The group `next` named was committed.
    mutating func committed() {
        pending.removeFirst()
    }

    /// The group `next` named was refused for its data.
    mutating func refused(_ reason: String) {
        refuse(pending.removeFirst(), reason)
    }

    private mutating func refuse(_ group: [Int], _ reason: String) {
        switch group.count {
        case 0: break
        case 1: poisoned[group[0]] = reason
        default:
            let middle = group.count / 2
            pending.insert(contentsOf: [Array(group[..<middle]), Array(group[middle...])], at: 0)
        }
    }
}

extension PostgresError {
    /// The server refused the data itself (SQLSTATE class 22 data exception, 23 integrity constraint violation,
    /// 54 program limit exceeded): the same rows will be refused again, however often they are retried.
    var isDataError: Bool {
        guard kind != .connection, let sqlState else { return false }
        return sqlState.hasPrefix("22") || sqlState.hasPrefix("23") || sqlState.hasPrefix("54")
    }
}

extension IngestBatch {
    /// The batch's messages in journal order, each with the rows that belong to it (by message key; identical
    /// redeliveries share a key and travel together).
    var messageKeys: [[UInt8]] {
        var seen = Set<[UInt8]>()
        return rawMessages.map(\.messageKey).filter { seen.insert($0).inserted }
    }

    /// Only the rows of these messages.
    func only(_ keys: Set<[UInt8]>) -> IngestBatch {
        var subset = IngestBatch()
        subset.observations = observations.filter { keys.contains($0.messageKey) }
        subset.rawMessages = rawMessages.filter { keys.contains($0.messageKey) }
        subset.deadLetters = deadLetters.filter { keys.contains($0.messageKey) }
        subset.events = events.filter { keys.contains($0.messageKey) }
        subset.unknownDevices = UnknownDeviceSighting.collect(subset.rawMessages)
        subset.lastSequence = lastSequence
        return subset
    }

    /// What is kept of a message PostgreSQL refused: its raw message as `rejected` and one dead letter with the
    /// server's reason. Topic and reason are made storable; the payload is bytes.
    func poisonReplacement(for key: [UInt8], reason: String) -> IngestBatch {
        var replacement = IngestBatch()
        for var message in rawMessages where message.messageKey == key {
            message.outcome = .rejected
            message.recordsAccepted = 0
            message.recordsRejected = 1
            message.topic = IngestBounds.storable(message.topic)
            replacement.rawMessages.append(message)
            replacement.deadLetters.append(DeadLetter(
                receivedAtMicros: message.receivedAtMicros, topic: message.topic, deviceID: message.deviceID,
                payload: message.payload,
                reason: IngestBounds.storable("the database refused this message's data: \(reason)"),
                recordIndex: nil, messageKey: key))
        }
        replacement.lastSequence = lastSequence
        return replacement
    }
}
