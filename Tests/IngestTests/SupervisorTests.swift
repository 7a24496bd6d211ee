import Foundation
import Logging
import Models
import Telemetry
import Testing
@testable import Ingest

/// The supervisor over `InMemoryDeviceStatusRepository`: statuses and connectivity events saved together, the
/// sweep for silent devices, and a restart from the saved statuses.
@Suite struct SupervisorTests {
    static let dataModels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("DataModels")

    static func supervisor(_ statuses: InMemoryDeviceStatusRepository, _ directory: DeviceDirectory) throws -> Supervisor {
        Supervisor(statuses: statuses, catalogue: try Catalogue.load(from: dataModels), directory: directory,
                   logger: Logger(label: "test"), isCaughtUp: { true })
    }

    @Test("heard from: online; silent past its heartbeat: offline with when it was last seen; a restart goes on from there")
    func onlineOfflineAndRestart() async throws {
        let directory = DeviceDirectory(["sensor-1": DeviceProfile(type: "sensor", model: nil, state: "active")])
        let statuses = InMemoryDeviceStatusRepository(isRegistered: { $0 != "ghost-1" })
        let supervisor = try Self.supervisor(statuses, directory)
        // Three hours ago: a sensor's heartbeat is an hour, so it is silent past 1.5 hours and 10 s.
        let heard = Int64(Date().timeIntervalSince1970 * 1e6) - 3 * 3_600_000_000 + 123_456
        supervisor.record([DeviceActivity(deviceID: "sensor-1", atMicros: heard, battery: 80),
                           DeviceActivity(deviceID: "ghost-1", atMicros: heard)], profiles: directory.snapshot)

        await supervisor.tick(sweep: false)
        var saved = try await statuses.statuses()
        #expect(saved["sensor-1"]?.connectivity == .online)
        #expect(saved["sensor-1"]?.battery == 80)
        #expect(saved["ghost-1"] == nil, "only registered devices have a status")
        #expect(statuses.events.filter { $0.deviceID == "sensor-1" }.map(\.event) == ["device_online"])

        await supervisor.tick(sweep: true)
        saved = try await statuses.statuses()
        #expect(saved["sensor-1"]?.connectivity == .offline)
        let offline = statuses.events.last
        #expect(offline?.event == "device_offline")
        #expect(offline?.attributes["lastSeen"] == RFC3339.format(micros: heard, fractionDigits: 3))

        let eventsBefore = statuses.events.count
        let restarted = try Self.supervisor(statuses, directory)
        await restarted.tick(sweep: true)
        #expect(restarted.status(of: "sensor-1")?.connectivity == .offline)
        #expect(statuses.events.count == eventsBefore, "already offline: no second event after the restart")
    }
}
