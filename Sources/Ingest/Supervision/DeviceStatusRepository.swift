import Synchronization
import Telemetry

/// Supervision's record of each device (table `device_status`), from which it starts again after a restart.
public protocol DeviceStatusRepository: Sendable {
    func statuses() async throws -> [String: DeviceStatus]
    /// Stores the changed statuses (of registered devices only) and the connectivity events they caused, together
    /// or not at all.
    func save(_ changed: [(deviceID: String, status: DeviceStatus)], events: [DeviceEvent]) async throws
}

/// Device statuses in memory, for tests without a database: `isRegistered` stands in for the devices table the
/// PostgreSQL writes check.
public final class InMemoryDeviceStatusRepository: DeviceStatusRepository {
    private let state = Mutex<(statuses: [String: DeviceStatus], events: [DeviceEvent])>(([:], []))
    private let isRegistered: @Sendable (String) -> Bool

    public init(statuses: [String: DeviceStatus] = [:], isRegistered: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.isRegistered = isRegistered
        state.withLock { $0.statuses = statuses }
    }

    /// The connectivity events saved so far, in order.
    public var events: [DeviceEvent] { state.withLock { $0.events } }

    public func statuses() async throws -> [String: DeviceStatus] {
        state.withLock { $0.statuses }
    }

    public func save(_ changed: [(deviceID: String, status: DeviceStatus)], events: [DeviceEvent]) async throws {
        state.withLock { state in
            for (id, status) in changed where isRegistered(id) { state.statuses[id] = status }
            state.events += events
        }
    }
}
