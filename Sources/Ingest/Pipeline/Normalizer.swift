import Models
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
    /// Maps the messages of registered devices onto the catalogue; without it every device takes the generic path.
    public var catalogue: CatalogueNormalizer?

    public init(limits: Limits = Limits(), catalogue: CatalogueNormalizer? = nil) {
        self.limits = limits
        self.catalogue = catalogue
    }

    public struct Output: Sendable, Equatable {
        public var observations: [Observation] = []
        public var deadLetters: [DeadLetter] = []
        public var events: [DeviceEvent] = []
        public var rawMessage: RawMessage
    }

    /// - Parameter devices: the registry's profiles by device id. A device id that is not among them is quarantined:
    ///   its message is kept as a raw message (outcome `quarantined`) and nothing of it is stored as data.
    ///   Registered devices are normalized through the catalogue by their type and model (without a catalogue,
    ///   through the generic SenML path).
    public func normalize(_ record: JournalRecord, devices: [String: DeviceProfile]) -> Output {
        let received = record.receivedAtMicros
        let topic: DeviceTopic
        switch DeviceTopic.parse(record.topic) {
        case .success(let parsed): topic = parsed
        case .failure(let error): return rejected(record, deviceID: nil, reason: error.reason)
        }
        guard let device = devices[topic.deviceID] else {
            let key = MessageKey.compute(topic: record.topic, payload: record.payload, receivedAtMicros: received)
            return Output(rawMessage: raw(record, topic.deviceID, key, .quarantined, 0, 0))
        }
        guard record.payload.count <= limits.maxPayloadBytes else {
            return rejected(record, deviceID: topic.deviceID,
                            reason: "payload is \(record.payload.count) bytes; the limit is \(limits.maxPayloadBytes)")
        }
        guard device.state != "suspended", device.state != "decommissioned" else {
            return rejected(record, deviceID: topic.deviceID, reason: "device \(topic.deviceID) is \(device.state)")
        }
        if let catalogue {
            return normalize(record, topic: topic, device: device, catalogue: catalogue)
        }
        if topic.channel == .status, let status = Self.plainStatus(record.payload) {
            return statusOutput(record, topic: topic, status: status, confidentiality: nil)
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

    /// The catalogue path: the adapter is chosen by the device's model (a vendor mapping) or else its type's first
    /// payload format; values get catalogue ids, canonical units and their confidentiality class; events go to the
    /// events table; each rejected value is a dead letter of its own with the path and reason.
    private func normalize(_ record: JournalRecord, topic: DeviceTopic, device: DeviceProfile,
                           catalogue: CatalogueNormalizer) -> Output {
        let received = record.receivedAtMicros
        if topic.channel == .status, let status = Self.plainStatus(record.payload) {
            return statusOutput(record, topic: topic, status: status,
                                confidentiality: catalogue.catalogue.quantity("status")?.classification.confidentiality.rawValue)
        }
        let format: PayloadFormat
        if let model = device.model, catalogue.hasMapping(model) {
            format = .vendorJSON
        } else if let first = catalogue.catalogue.deviceType(device.type)?.payloadFormats.first {
            format = first
        } else {
            return rejected(record, deviceID: topic.deviceID, reason: "device type \(device.type) is not in the catalogue")
        }
        let payload: NormalizedPayload
        do {
            payload = try catalogue.normalize(deviceType: device.type, model: device.model, format: format,
                                              payload: record.payload, receivedAt: Double(received) / 1e6,
                                              preferEvents: topic.channel == .events)
        } catch {
            return rejected(record, deviceID: topic.deviceID, reason: "invalid \(format.rawValue): \(error.description)")
        }
        // Timestamped SenML keeps a content key (redeliveries are repeats), and so does SCAIP, whose `ref` makes
        // each message unique; anything relative to arrival, and vendor JSON, include the arrival time.
        let contentKeyed = format == .scaipXML || (format == .senml && !payload.timesRelativeToArrival)
        let key = MessageKey.compute(topic: record.topic, payload: record.payload,
                                     receivedAtMicros: contentKeyed ? nil : received)
        var output = Output(rawMessage: raw(record, topic.deviceID, key, .accepted, 0, 0))
        for (index, value) in payload.values.enumerated() {
            let stored: ObservationValue
            switch value.value {
            case .number(let number): stored = .number(number)
            case .string(let string): stored = .string(string)
            case .boolean(let boolean): stored = .boolean(boolean)
            case .position(let latitude, let longitude, let accuracy):
                // A position is kept as text "lat,lon[,accuracy]"; its parts are values of their own when sent so.
                stored = .string([latitude, longitude, accuracy].compactMap { $0 }.map { "\($0)" }.joined(separator: ","))
            }
            output.observations.append(Observation(
                deviceID: topic.deviceID, quantity: value.quantity, value: stored, sum: nil, unit: value.unit,
                observedAtMicros: Int64((value.observedAt * 1e6).rounded()), receivedAtMicros: received,
                messageKey: key, recordIndex: index, confidentiality: value.classification.confidentiality.rawValue))
        }
        for event in payload.events {
            output.events.append(DeviceEvent(
                deviceID: topic.deviceID, event: event.event, observedAtMicros: Int64((event.observedAt * 1e6).rounded()),
                receivedAtMicros: received, attributes: event.attributes,
                confidentiality: event.classification.confidentiality.rawValue, messageKey: key, sourcePath: event.sourcePath))
        }
        for (index, rejection) in payload.rejections.enumerated() {
            output.deadLetters.append(deadLetter(record, topic.deviceID, key, index, rejection.description))
        }
        let accepted = output.observations.count + output.events.count
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

    /// A plain-text status (a last will) as the device's `status` observation, at its arrival time.
    private func statusOutput(_ record: JournalRecord, topic: DeviceTopic, status: String, confidentiality: Int?) -> Output {
        let received = record.receivedAtMicros
        let key = MessageKey.compute(topic: record.topic, payload: record.payload, receivedAtMicros: received)
        let observation = Observation(deviceID: topic.deviceID, quantity: "status", value: .string(status),
                                      sum: nil, unit: nil, observedAtMicros: received, receivedAtMicros: received,
                                      messageKey: key, recordIndex: 0, confidentiality: confidentiality)
        return Output(observations: [observation], rawMessage: raw(record, topic.deviceID, key, .accepted, 1, 0))
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
