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
        /// The window of accepted observed times and what text can be stored.
        public var bounds = IngestBounds()
        /// Fault injection for the crash guards' tests only (`CIP_TEST_TRAP_PAYLOAD`): a payload that contains
        /// these bytes kills the process while it is normalized. Nil in production.
        public var trapOnPayload: [UInt8]?

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
        if let trap = limits.trapOnPayload, !trap.isEmpty, record.payload.firstRange(of: trap) != nil {
            fatalError("CIP_TEST_TRAP_PAYLOAD: normalizing journal record \(record.sequence)")
        }
        let received = record.receivedAtMicros
        let topic: DeviceTopic
        switch DeviceTopic.parse(record.topic) {
        case .success(let parsed): topic = parsed
        case .failure(let error): return rejected(record, deviceID: nil, reason: error.reason)
        }
        if let size = record.oversizedPayloadBytes {
            return rejected(record, deviceID: topic.deviceID,
                            reason: "payload is \(size) bytes, more than a journal record holds; only its size was kept")
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
        for senml in pack.records {
            let observedAt: Int64
            switch limits.bounds.observedMicros(senml.time, receivedAtMicros: received) {
            case .success(let micros): observedAt = micros
            case .failure(let refusal):
                output.deadLetters.append(deadLetter(record, topic.deviceID, key, senml.index, "record \(senml.index): \(refusal.reason)"))
                continue
            }
            let value = Self.value(senml.value)
            if let reason = Self.unstorable(name: senml.name, unit: senml.unit, value: value) {
                output.deadLetters.append(deadLetter(record, topic.deviceID, key, senml.index, "record \(senml.index): \(reason)"))
                continue
            }
            output.observations.append(Observation(
                deviceID: topic.deviceID, quantity: senml.name, value: value, sum: senml.sum,
                unit: senml.unit, observedAtMicros: observedAt,
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
                                              preferEvents: topic.channel == .events, deviceID: topic.deviceID)
        } catch {
            return rejected(record, deviceID: topic.deviceID, reason: "invalid \(format.rawValue): \(error.description)")
        }
        // Timestamped SenML keeps a content key (redeliveries are repeats), and so does SCAIP, whose `ref` makes
        // each message unique; anything relative to arrival, and vendor JSON, include the arrival time.
        let contentKeyed = format == .scaipXML || (format == .senml && !payload.timesRelativeToArrival)
        let key = MessageKey.compute(topic: record.topic, payload: record.payload,
                                     receivedAtMicros: contentKeyed ? nil : received)
        var output = Output(rawMessage: raw(record, topic.deviceID, key, .accepted, 0, 0))
        var rejections = payload.rejections
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
            let observedAt: Int64
            switch limits.bounds.observedMicros(value.observedAt, receivedAtMicros: received) {
            case .success(let micros): observedAt = micros
            case .failure(let refusal):
                rejections.append(Rejection(path: value.sourcePath, reason: refusal.reason))
                continue
            }
            if let reason = Self.unstorable(name: value.quantity, unit: value.unit, value: stored) {
                rejections.append(Rejection(path: value.sourcePath, reason: reason))
                continue
            }
            output.observations.append(Observation(
                deviceID: topic.deviceID, quantity: value.quantity, value: stored, sum: nil, unit: value.unit,
                observedAtMicros: observedAt, receivedAtMicros: received,
                messageKey: key, recordIndex: index, confidentiality: value.classification.confidentiality.rawValue))
        }
        for event in payload.events {
            // An event is kept whatever its time says: an alarm is never dropped because the device's clock is
            // wrong. A time outside the window is replaced by the arrival time, and the rejection says so.
            let observedAt: Int64
            switch limits.bounds.observedMicros(event.observedAt, receivedAtMicros: received) {
            case .success(let micros): observedAt = micros
            case .failure(let refusal):
                observedAt = received
                rejections.append(Rejection(path: event.sourcePath, reason: "\(refusal.reason); event \(event.event) kept at its arrival time"))
            }
            output.events.append(DeviceEvent(
                deviceID: topic.deviceID, event: event.event, observedAtMicros: observedAt,
                receivedAtMicros: received, attributes: event.attributes.mapValues(IngestBounds.storable),
                confidentiality: event.classification.confidentiality.rawValue, messageKey: key,
                sourcePath: IngestBounds.storable(event.sourcePath)))
        }
        for (index, rejection) in rejections.enumerated() {
            output.deadLetters.append(deadLetter(record, topic.deviceID, key, index, rejection.description))
        }
        let accepted = output.observations.count + output.events.count
        let refused = output.deadLetters.count
        output.rawMessage.recordsAccepted = accepted
        output.rawMessage.recordsRejected = refused
        output.rawMessage.outcome = refused == 0 ? .accepted : (accepted == 0 ? .rejected : .partial)
        return output
    }

    /// Why an observation's texts cannot be stored, or nil.
    private static func unstorable(name: String, unit: String?, value: ObservationValue) -> String? {
        if let reason = IngestBounds.unstorable(name) { return "name \(reason)" }
        if let unit, let reason = IngestBounds.unstorable(unit) { return "unit \(reason)" }
        if case .string(let text) = value, let reason = IngestBounds.unstorable(text) { return "value \(reason)" }
        return nil
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

    /// A record that is not to be normalized (see `ReplayGuard`): its raw message as rejected and a dead letter.
    public func quarantined(_ record: JournalRecord, reason: String) -> Output {
        let deviceID = (try? DeviceTopic.parse(record.topic).get())?.deviceID
        return rejected(record, deviceID: deviceID, reason: reason)
    }

    private func rejected(_ record: JournalRecord, deviceID: String?, reason: String) -> Output {
        let key = MessageKey.compute(topic: record.topic, payload: record.payload, receivedAtMicros: record.receivedAtMicros)
        return Output(deadLetters: [deadLetter(record, deviceID, key, nil, reason)],
                      rawMessage: raw(record, deviceID, key, .rejected, 0, 0))
    }

    private func deadLetter(_ record: JournalRecord, _ deviceID: String?, _ key: [UInt8], _ index: Int?,
                            _ reason: String) -> DeadLetter {
        DeadLetter(receivedAtMicros: record.receivedAtMicros, topic: IngestBounds.storable(record.topic), deviceID: deviceID,
                   payload: record.payload, reason: IngestBounds.storable(reason), recordIndex: index, messageKey: key)
    }

    private func raw(_ record: JournalRecord, _ deviceID: String?, _ key: [UInt8], _ outcome: MessageOutcome,
                     _ accepted: Int, _ rejected: Int) -> RawMessage {
        RawMessage(deviceID: deviceID, topic: IngestBounds.storable(record.topic), payload: record.payload,
                   receivedAtMicros: record.receivedAtMicros, messageKey: key, journalSequence: record.sequence,
                   outcome: outcome, recordsAccepted: accepted, recordsRejected: rejected)
    }
}

import Foundation
import Telemetry
