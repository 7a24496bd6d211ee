import Testing

@testable import Ingest

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
        let output = normalizer.normalize(record, devices: ["d1": DeviceProfile(type: "sensor", model: nil, state: "active")])
        let activity = DeviceActivity(output)
        #expect(activity == DeviceActivity(deviceID: "d1", atMicros: Self.t0, battery: 42, signalStrength: -80, firmware: "3.1"))
        let quarantined = normalizer.normalize(record, devices: [:])
        #expect(DeviceActivity(quarantined) == nil)
    }
}
