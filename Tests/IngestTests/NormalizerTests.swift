import Storage
import Testing

@testable import Ingest
import Telemetry

@Suite struct NormalizerTests {
    static let received: Int64 = 1_760_000_000_000_000

    /// Registered devices of this suite; any other id is unknown to the registry.
    static let devices = [
        "d1": DeviceProfile(type: "sensor", model: nil, state: "active"),
        "d2": DeviceProfile(type: "sensor", model: nil, state: "active"),
        "gone": DeviceProfile(type: "sensor", model: nil, state: "decommissioned"),
        "paused": DeviceProfile(type: "sensor", model: nil, state: "suspended"),
    ]

    func normalize(_ topic: String, _ payload: String, sequence: UInt64 = 1, received: Int64 = received) -> Normalizer.Output {
        var limits = Normalizer.Limits()
        limits.maxPayloadBytes = 1_024
        return Normalizer(limits: limits).normalize(
            JournalRecord(sequence: sequence, receivedAtMicros: received, topic: topic, payload: Array(payload.utf8)),
            devices: Self.devices)
    }

    @Test func unknownDevicesAreQuarantinedNotStored() {
        let output = normalize("devices/stranger/telemetry", #"[{"bt":1760000000,"n":"temp","v":1}]"#)
        #expect(output.observations.isEmpty)
        #expect(output.deadLetters.isEmpty)
        #expect(output.rawMessage.outcome == .quarantined)
        #expect(output.rawMessage.deviceID == "stranger")
        let sightings = UnknownDeviceSighting.collect([
            output.rawMessage,
            normalize("devices/stranger/events", "x", received: Self.received + 5).rawMessage,
            normalize("devices/d1/telemetry", #"[{"n":"temp","v":1}]"#).rawMessage,
        ])
        #expect(sightings == [UnknownDeviceSighting(deviceID: "stranger", firstSeenMicros: Self.received,
                                                    lastSeenMicros: Self.received + 5, count: 2,
                                                    lastTopic: "devices/stranger/events")])
    }

    @Test(arguments: ["gone", "paused"])
    func suspendedAndDecommissionedDevicesAreRefused(device: String) {
        let output = normalize("devices/\(device)/telemetry", #"[{"n":"temp","v":1}]"#)
        #expect(output.observations.isEmpty)
        #expect(output.deadLetters.first?.reason.contains("is \(Self.devices[device]!.state)") == true)
    }

    @Test func acceptsAPackAndResolvesTimes() {
        let output = normalize("devices/d1/telemetry", #"[{"bt":1760000000.5,"n":"temp","u":"Cel","v":21.5},{"n":"hum","t":1,"v":40}]"#)
        #expect(output.deadLetters.isEmpty)
        #expect(output.observations.map(\.quantity) == ["temp", "hum"])
        #expect(output.observations[0].observedAtMicros == 1_760_000_000_500_000)
        #expect(output.observations[1].observedAtMicros == 1_760_000_001_500_000)
        #expect(output.observations[0].value == .number(21.5))
        #expect(output.observations[0].unit == "Cel")
        #expect(output.rawMessage.outcome == .accepted)
        #expect(output.observations.allSatisfy { $0.deviceID == "d1" && $0.messageKey.count == 16 })
    }

    @Test func relativeTimesAreRelativeToArrival() {
        let output = normalize("devices/d1/telemetry", #"[{"n":"temp","v":1,"t":-10}]"#)
        #expect(output.observations.first?.observedAtMicros == Self.received - 10_000_000)
    }

    @Test func absoluteTimedPayloadsKeepTheirKeyAcrossRedelivery() {
        let payload = #"[{"bt":1760000000,"n":"temp","v":1}]"#
        let first = normalize("devices/d1/telemetry", payload, sequence: 1, received: Self.received)
        let again = normalize("devices/d1/telemetry", payload, sequence: 9, received: Self.received + 5_000_000)
        #expect(first.rawMessage.messageKey == again.rawMessage.messageKey)
        let relative = #"[{"n":"temp","v":1}]"#
        #expect(normalize("devices/d1/telemetry", relative, received: 1).rawMessage.messageKey
                != normalize("devices/d1/telemetry", relative, received: 2).rawMessage.messageKey)
        #expect(normalize("devices/d2/telemetry", payload).rawMessage.messageKey != first.rawMessage.messageKey)
    }

    @Test func badRecordsAreDeadLetteredAndGoodOnesKept() {
        let output = normalize("devices/d1/telemetry", #"[{"bt":1760000000,"n":"ok","v":1},{"n":"_bad","v":2},{"n":"ok2","vs":"x"}]"#)
        #expect(output.observations.map(\.quantity) == ["ok", "ok2"])
        #expect(output.deadLetters.count == 1)
        #expect(output.deadLetters.first?.recordIndex == 1)
        #expect(output.rawMessage.outcome == .partial)
    }

    @Test func futureTimesAreRefused() {
        let future = Double(Self.received) / 1e6 + 3 * 86_400
        let output = normalize("devices/d1/telemetry", #"[{"bt":\#(future),"n":"temp","v":1}]"#)
        #expect(output.observations.isEmpty)
        #expect(output.deadLetters.first?.reason.contains("after arrival") == true)
        #expect(output.rawMessage.outcome == .rejected)
    }

    @Test(arguments: [
        ("sensors/d1/telemetry", "outside the scheme"),
        ("devices/d1/telemetry/extra", "outside the scheme"),
        ("devices//telemetry", "device id"),
        ("devices/d 1/telemetry", "device id"),
        ("devices/d1/commands", "unknown channel"),
    ])
    func topicsOutsideTheSchemeAreRefused(topic: String, reason: String) {
        let output = normalize(topic, #"[{"n":"t","v":1}]"#)
        #expect(output.observations.isEmpty)
        #expect(output.deadLetters.count == 1)
        #expect(output.deadLetters[0].reason.contains(reason))
        #expect(output.deadLetters[0].recordIndex == nil)
    }

    @Test func oversizedPayloadsAreRefusedUnparsed() {
        let output = normalize("devices/d1/telemetry", "[" + String(repeating: " ", count: 2_000) + "]")
        #expect(output.deadLetters.first?.reason == "payload is 2002 bytes; the limit is 1024")
    }

    @Test func plainStatusIsAnObservation() {
        let output = normalize("devices/d1/status", "offline\n")
        #expect(output.observations.first?.quantity == "status")
        #expect(output.observations.first?.value == .string("offline"))
        #expect(output.observations.first?.observedAtMicros == Self.received)
        #expect(normalize("devices/d1/telemetry", "offline").deadLetters.count == 1)
    }

    @Test func normalizingIsDeterministic() {
        let payload = #"[{"n":"a","v":1},{"n":"b","vb":true},{"n":"-x","v":1}]"#
        #expect(normalize("devices/d1/events", payload) == normalize("devices/d1/events", payload))
    }
}
