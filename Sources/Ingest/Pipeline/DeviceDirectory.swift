import Postgres
import Synchronization

/// What ingest needs to know of a registered device: which adapter to use, and whether it may send.
public struct DeviceProfile: Sendable, Equatable {
    public var type: String
    public var model: String?
    /// The registry's lifecycle state (`registered`, `provisioned`, `active`, `suspended`, `decommissioned`).
    public var state: String

    public init(type: String, model: String?, state: String) {
        self.type = type
        self.model = model
        self.state = state
    }
}

/// The registered devices, held in memory so that the hot path resolves a device without a database round
/// trip. The pipeline reloads it every few seconds (registrations show up within that delay).
public final class DeviceDirectory: Sendable {
    private let devices = Mutex<[String: DeviceProfile]>([:])

    public init(_ devices: [String: DeviceProfile] = [:]) {
        self.devices.withLock { $0 = devices }
    }

    public var snapshot: [String: DeviceProfile] { devices.withLock { $0 } }

    public func replace(with devices: [String: DeviceProfile]) {
        self.devices.withLock { $0 = devices }
    }

    /// Reads every device from the registry (100,000 rows load in well under a second).
    public func reload(from connection: PostgresConnection) throws {
        let rows = try connection.query("SELECT device_id, type, model, lifecycle_state FROM devices")
        var devices: [String: DeviceProfile] = [:]
        devices.reserveCapacity(rows.count)
        for row in rows.all {
            guard let id = row["device_id"], let type = row["type"] else { continue }
            devices[id] = DeviceProfile(type: type, model: row["model"], state: row["lifecycle_state"] ?? "registered")
        }
        replace(with: devices)
    }
}
