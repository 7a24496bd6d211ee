/// The value of one observation: exactly one kind, as SenML has them.
public enum ObservationValue: Sendable, Equatable {
    case number(Double)
    case string(String)
    case boolean(Bool)
    case data([UInt8])
    /// A record that carries only a sum.
    case none
}

/// A normalized observation, as stored.
public struct Observation: Sendable, Equatable {
    public var deviceID: String
    public var quantity: String
    public var value: ObservationValue
    public var sum: Double?
    public var unit: String?
    public var observedAtMicros: Int64
    public var receivedAtMicros: Int64
    /// 16 bytes identifying the message this record came from.
    public var messageKey: [UInt8]
    public var recordIndex: Int
    /// 1 open, 2 internal, 3 sensitive, from the catalogue; nil for values stored without it (unregistered devices).
    public var confidentiality: Int?

    public init(deviceID: String, quantity: String, value: ObservationValue, sum: Double?, unit: String?,
                observedAtMicros: Int64, receivedAtMicros: Int64, messageKey: [UInt8], recordIndex: Int,
                confidentiality: Int? = nil) {
        self.deviceID = deviceID
        self.quantity = quantity
        self.value = value
        self.sum = sum
        self.unit = unit
        self.observedAtMicros = observedAtMicros
        self.receivedAtMicros = receivedAtMicros
        self.messageKey = messageKey
        self.recordIndex = recordIndex
        self.confidentiality = confidentiality
    }
}

/// What became of a message as a whole.
public enum MessageOutcome: String, Sendable, Codable {
    case accepted, partial, rejected
    /// From a device id the registry does not know: kept as a raw message only, and counted per device id.
    case quarantined
}

/// Messages of one unregistered device id within a batch, for the unknown-device inventory.
public struct UnknownDeviceSighting: Sendable, Equatable {
    public var deviceID: String
    public var firstSeenMicros: Int64
    public var lastSeenMicros: Int64
    public var count: Int
    public var lastTopic: String

    public init(deviceID: String, firstSeenMicros: Int64, lastSeenMicros: Int64, count: Int, lastTopic: String) {
        self.deviceID = deviceID
        self.firstSeenMicros = firstSeenMicros
        self.lastSeenMicros = lastSeenMicros
        self.count = count
        self.lastTopic = lastTopic
    }

    /// One sighting per device id, from the batch's quarantined raw messages.
    public static func collect(_ messages: [RawMessage]) -> [UnknownDeviceSighting] {
        var byDevice: [String: UnknownDeviceSighting] = [:]
        for message in messages where message.outcome == .quarantined {
            guard let id = message.deviceID else { continue }
            let at = message.receivedAtMicros
            if var seen = byDevice[id] {
                seen.count += 1
                seen.firstSeenMicros = min(seen.firstSeenMicros, at)
                if at >= seen.lastSeenMicros {
                    seen.lastSeenMicros = at
                    seen.lastTopic = message.topic
                }
                byDevice[id] = seen
            } else {
                byDevice[id] = UnknownDeviceSighting(deviceID: id, firstSeenMicros: at, lastSeenMicros: at, count: 1,
                                                     lastTopic: message.topic)
            }
        }
        return byDevice.values.sorted { $0.deviceID < $1.deviceID }
    }
}

/// A message as it arrived, kept for troubleshooting.
public struct RawMessage: Sendable, Equatable {
    public var deviceID: String?
    public var topic: String
    public var payload: [UInt8]
    public var receivedAtMicros: Int64
    public var messageKey: [UInt8]
    public var journalSequence: UInt64
    public var outcome: MessageOutcome
    public var recordsAccepted: Int
    public var recordsRejected: Int

    public init(deviceID: String?, topic: String, payload: [UInt8], receivedAtMicros: Int64, messageKey: [UInt8],
                journalSequence: UInt64, outcome: MessageOutcome, recordsAccepted: Int, recordsRejected: Int) {
        self.deviceID = deviceID
        self.topic = topic
        self.payload = payload
        self.receivedAtMicros = receivedAtMicros
        self.messageKey = messageKey
        self.journalSequence = journalSequence
        self.outcome = outcome
        self.recordsAccepted = recordsAccepted
        self.recordsRejected = recordsRejected
    }
}

/// Input that could not be accepted, with the reason.
public struct DeadLetter: Sendable, Equatable {
    public var id: Int64?
    public var receivedAtMicros: Int64
    public var topic: String
    public var deviceID: String?
    public var payload: [UInt8]
    public var reason: String
    /// The rejected record's index in its pack; nil when the whole message was rejected.
    public var recordIndex: Int?
    public var messageKey: [UInt8]

    public init(id: Int64? = nil, receivedAtMicros: Int64, topic: String, deviceID: String?, payload: [UInt8],
                reason: String, recordIndex: Int?, messageKey: [UInt8]) {
        self.id = id
        self.receivedAtMicros = receivedAtMicros
        self.topic = topic
        self.deviceID = deviceID
        self.payload = payload
        self.reason = reason
        self.recordIndex = recordIndex
        self.messageKey = messageKey
    }
}

/// A device event normalized through the catalogue.
public struct DeviceEvent: Sendable, Equatable {
    public var deviceID: String
    public var event: String
    public var observedAtMicros: Int64
    public var receivedAtMicros: Int64
    public var attributes: [String: String]
    public var confidentiality: Int
    public var messageKey: [UInt8]
    public var sourcePath: String

    public init(deviceID: String, event: String, observedAtMicros: Int64, receivedAtMicros: Int64,
                attributes: [String: String], confidentiality: Int, messageKey: [UInt8], sourcePath: String) {
        self.deviceID = deviceID
        self.event = event
        self.observedAtMicros = observedAtMicros
        self.receivedAtMicros = receivedAtMicros
        self.attributes = attributes
        self.confidentiality = confidentiality
        self.messageKey = messageKey
        self.sourcePath = sourcePath
    }
}

/// Everything one batch of journal records turned into; written in one transaction.
public struct IngestBatch: Sendable {
    public var observations: [Observation] = []
    public var rawMessages: [RawMessage] = []
    public var deadLetters: [DeadLetter] = []
    public var events: [DeviceEvent] = []
    public var unknownDevices: [UnknownDeviceSighting] = []
    /// The journal sequence of the last message in the batch.
    public var lastSequence: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { observations.isEmpty && rawMessages.isEmpty && deadLetters.isEmpty && events.isEmpty
        && unknownDevices.isEmpty }
}
