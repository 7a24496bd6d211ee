import Storage

/// Turns one journaled message into what gets stored: observations, dead letters and the raw message.
/// Pure: the same record gives the same result, which makes replays idempotent.
///
/// The rule for bad input: a message that cannot be read as a whole (topic outside the scheme, too large, not
/// JSON, not a SenML pack, an unsupported `bver`, a bad base field, a `_` label) is dead-lettered whole. A pack
/// that is readable but has bad records keeps its good records; each bad one becomes a dead letter of its own
/// with its index and reason, and the message's outcome is `partial`.
public struct Normalizer: Sendable {
    public struct Limits: Sendable {
        /// Larger payloads are dead-lettered without being parsed.
        public var maxPayloadBytes: Int = 256 << 10
        /// Times further ahead of arrival than this are refused (a device clock gone wrong).
        public var maxFutureSkewSeconds: Double = 24 * 3600

        public init() {}
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    public struct Output: Sendable, Equatable {
        public var observations: [Observation] = []
        public var deadLetters: [DeadLetter] = []
        public var rawMessage: RawMessage
    }

    public func normalize(_ record: JournalRecord) -> Output {
        let received = record.receivedAtMicros
        let topic: DeviceTopic
        switch DeviceTopic.parse(record.topic) {
        case .success(let parsed): topic = parsed
        case .failure(let error): return rejected(record, deviceID: nil, reason: error.reason)
        }
        guard record.payload.count <= limits.maxPayloadBytes else {
            return rejected(record, deviceID: topic.deviceID,
                            reason: "payload is \(record.payload.count) bytes; the limit is \(limits.maxPayloadBytes)")
        }
        if topic.channel == .status, let status = Self.plainStatus(record.payload) {
            let key = MessageKey.compute(topic: record.topic, payload: record.payload, receivedAtMicros: received)
            let observation = Observation(deviceID: topic.deviceID, quantity: "status", value: .string(status),
                                          sum: nil, unit: nil, observedAtMicros: received, receivedAtMicros: received,
                                          messageKey: key, recordIndex: 0)
            return Output(observations: [observation], rawMessage: raw(record, topic.deviceID, key, .accepted, 1, 0))
        }

        let pack: SenMLPack
        do {
            pack = try SenML.resolve(record.payload, now: Double(received) / 1_000_000)
        } catch {
            return rejected(record, deviceID: topic.deviceID, reason: "invalid SenML: \(error.description)")
        }
        let relative = pack.records.contains(where: \.timeIsRelative) || !pack.rejected.isEmpty
        let key = MessageKey.compute(topic: record.topic, payload: record.payload,
                                     receivedAtMicros: relative ? received : nil)
        var output = Output(rawMessage: raw(record, topic.deviceID, key, .accepted, 0, 0))
        let latestAllowed = Double(received) / 1_000_000 + limits.maxFutureSkewSeconds
        for senml in pack.records {
            if senml.time > latestAllowed {
                output.deadLetters.append(deadLetter(record, topic.deviceID, key, senml.index,
                    "record \(senml.index): time \(senml.time) is more than \(Int(limits.maxFutureSkewSeconds)) s after arrival"))
                continue
            }
            output.observations.append(Observation(
                deviceID: topic.deviceID, quantity: senml.name, value: Self.value(senml.value), sum: senml.sum,
                unit: senml.unit, observedAtMicros: Int64((senml.time * 1_000_000).rounded()),
                receivedAtMicros: received, messageKey: key, recordIndex: senml.index))
        }
        for error in pack.rejected {
            output.deadLetters.append(deadLetter(record, topic.deviceID, key, error.index, error.description))
        }
        let accepted = output.observations.count
        let refused = output.deadLetters.count
        output.rawMessage.recordsAccepted = accepted
        output.rawMessage.recordsRejected = refused
        output.rawMessage.outcome = refused == 0 ? .accepted : (accepted == 0 ? .rejected : .partial)
        return output
    }

    private static func value(_ value: SenMLValue?) -> ObservationValue {
        switch value {
        case .number(let number): .number(number)
        case .string(let string): .string(string)
        case .bool(let bool): .boolean(bool)
        case .data(let data): .data(data)
        case nil: .none
        }
    }

    /// `online` / `offline` as plain text (what a last will usually says).
    static func plainStatus(_ payload: [UInt8]) -> String? {
        guard payload.count <= 16 else { return nil }
        let text = String(decoding: payload, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return text == "online" || text == "offline" ? text : nil
    }

    private func rejected(_ record: JournalRecord, deviceID: String?, reason: String) -> Output {
        let key = MessageKey.compute(topic: record.topic, payload: record.payload, receivedAtMicros: record.receivedAtMicros)
        return Output(deadLetters: [deadLetter(record, deviceID, key, nil, reason)],
                      rawMessage: raw(record, deviceID, key, .rejected, 0, 0))
    }

    private func deadLetter(_ record: JournalRecord, _ deviceID: String?, _ key: [UInt8], _ index: Int?,
                            _ reason: String) -> DeadLetter {
        DeadLetter(receivedAtMicros: record.receivedAtMicros, topic: record.topic, deviceID: deviceID,
                   payload: record.payload, reason: reason, recordIndex: index, messageKey: key)
    }

    private func raw(_ record: JournalRecord, _ deviceID: String?, _ key: [UInt8], _ outcome: MessageOutcome,
                     _ accepted: Int, _ rejected: Int) -> RawMessage {
        RawMessage(deviceID: deviceID, topic: record.topic, payload: record.payload,
                   receivedAtMicros: record.receivedAtMicros, messageKey: key, journalSequence: record.sequence,
                   outcome: outcome, recordsAccepted: accepted, recordsRejected: rejected)
    }
}

import Foundation
