import Storage
import Testing

@testable import Ingest
import Telemetry

@Suite struct ConnectivityTrackerTests {
    static let second: Int64 = 1_000_000
    static let t0: Int64 = 1_760_000_000 * 1_000_000

    var tracker = ConnectivityTracker()

    @Test func aFirstMessageBringsADeviceOnlineAndKeepsItsFacts() {
        var tracker = self.tracker
        let change = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0, battery: 80, signalStrength: -70,
                                                   firmware: "1.2"))
        #expect(change?.from == .unknown)
        #expect(change?.to == .online)
        let status = tracker.devices["d1"]
        #expect(status?.battery == 80 && status?.signalStrength == -70 && status?.firmware == "1.2")
        #expect(tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0 + Self.second)) == nil)
        // Facts without a new value keep the old one.
        #expect(tracker.devices["d1"]?.battery == 80)
        #expect(tracker.takeChanged().map(\.deviceID) == ["d1"])
        #expect(tracker.takeChanged().isEmpty)
    }

    @Test func silenceBeyondTheHeartbeatAndToleranceMeansOffline() {
        var tracker = self.tracker
        _ = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0))
        _ = tracker.record(DeviceActivity(deviceID: "d2", atMicros: Self.t0))
        // Heartbeat 60 s: limit 60 × 1.5 + 10 = 100 s.
        let heartbeat: (String) -> Double? = { $0 == "d1" ? 60 : nil }
        #expect(tracker.sweep(nowMicros: Self.t0 + 100 * Self.second, heartbeatSeconds: heartbeat).isEmpty)
        let changes = tracker.sweep(nowMicros: Self.t0 + 101 * Self.second, heartbeatSeconds: heartbeat)
        #expect(changes.map(\.deviceID) == ["d1"])
        #expect(changes.first?.to == .offline)
        #expect(changes.first?.reason == "silent for 101 s (heartbeat 60 s)")
        #expect(changes.first?.lastSeenMicros == Self.t0)
        // Offline once, not on every sweep; a device without a heartbeat (d2) is never swept.
        #expect(tracker.sweep(nowMicros: Self.t0 + 500 * Self.second, heartbeatSeconds: heartbeat).isEmpty)
        #expect(tracker.devices["d2"]?.connectivity == .online)
        // The next message brings it back.
        let back = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0 + 600 * Self.second))
        #expect(back?.from == .offline && back?.to == .online)
    }

    @Test func aLastWillTakesTheDeviceOfflineAtOnce() {
        var tracker = self.tracker
        _ = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0))
        let will = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0 + Self.second, reportedStatus: .offline))
        #expect(will?.to == .offline)
        #expect(will?.reason.contains("last will") == true)
        // A message older than the last will (a late replay) does not undo it.
        #expect(tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0)) == nil)
        #expect(tracker.devices["d1"]?.connectivity == .offline)
        #expect(tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0 + 2 * Self.second))?.to == .online)
    }

    @Test func olderMessagesDoNotMoveLastSeenBackwards() {
        var tracker = self.tracker
        _ = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0 + 10 * Self.second, battery: 50))
        _ = tracker.record(DeviceActivity(deviceID: "d1", atMicros: Self.t0, battery: 90))
        #expect(tracker.devices["d1"]?.lastSeenMicros == Self.t0 + 10 * Self.second)
        #expect(tracker.devices["d1"]?.battery == 50)
    }

    @Test func activityIsReadFromNormalizedOutput() {
        let normalizer = Normalizer()
        let record = JournalRecord(sequence: 1, receivedAtMicros: Self.t0, topic: "devices/d1/telemetry",
                                   payload: Array(#"[{"n":"battery","u":"%","v":42},{"n":"signal_strength","u":"dBm","v":-80},{"n":"firmware_version","vs":"3.1"}]"#.utf8))
        func activities(_ output: Normalizer.Output) -> [DeviceActivity] {
            DeviceActivity.of(CommittedBatch(observations: output.observations, rawMessages: [output.rawMessage]))
        }
        let output = normalizer.normalize(record, devices: ["d1": DeviceProfile(type: "sensor", model: nil, state: "active")])
        #expect(activities(output) == [DeviceActivity(deviceID: "d1", atMicros: Self.t0, battery: 42, signalStrength: -80, firmware: "3.1")])
        let quarantined = normalizer.normalize(record, devices: [:])
        #expect(activities(quarantined).isEmpty)
    }

    @Test func activitiesOfACommittedBatchFollowItsAcceptedMessages() {
        func raw(_ id: String, _ key: UInt8, _ outcome: MessageOutcome, at micros: Int64) -> RawMessage {
            RawMessage(deviceID: id, topic: "devices/\(id)/telemetry", payload: [], receivedAtMicros: micros,
                       messageKey: [key], journalSequence: UInt64(key), outcome: outcome, recordsAccepted: 1, recordsRejected: 0)
        }
        func observation(_ id: String, _ key: UInt8, _ quantity: String, _ value: ObservationValue) -> Observation {
            Observation(deviceID: id, quantity: quantity, value: value, sum: nil, unit: nil, observedAtMicros: 1,
                        receivedAtMicros: 1, messageKey: [key], recordIndex: 0)
        }
        let batch = CommittedBatch(
            observations: [observation("d1", 1, "battery", .number(80)), observation("d2", 3, "firmware_version", .string("2.1")),
                           observation("d1", 4, "battery", .number(79))],
            rawMessages: [raw("d1", 1, .accepted, at: 10), raw("d1", 2, .rejected, at: 20), raw("d2", 3, .partial, at: 30),
                          raw("d1", 4, .accepted, at: 40), raw("x", 5, .quarantined, at: 50)])
        let activities = DeviceActivity.of(batch)
        #expect(activities.map(\.deviceID) == ["d1", "d2", "d1"])
        #expect(activities.map(\.atMicros) == [10, 30, 40])
        #expect(activities.map(\.battery) == [80, nil, 79])
        #expect(activities[1].firmware == "2.1")
    }
}
