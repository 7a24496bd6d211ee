import Foundation
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

/// The registered devices, held in memory so that the hot path resolves a device without a database round trip.
///
/// Kept coherent with the registry three ways: every change to `devices` is announced with `NOTIFY cip_devices`
/// (a trigger), which `DirectoryListener` turns into `refresh(_:from:)` in every gateway instance; the device ids
/// of a batch that are not in memory are looked up (one query per batch) before their messages are quarantined,
/// so a message right after a registration never loses the race with the notification; and a full reload runs
/// now and then as a safety net.
public final class DeviceDirectory: Sendable {
    private let devices = Mutex<[String: DeviceProfile]>([:])

    public init(_ devices: [String: DeviceProfile] = [:]) {
        self.devices.withLock { $0 = devices }
    }

    public var snapshot: [String: DeviceProfile] { devices.withLock { $0 } }

    public var count: Int { devices.withLock { $0.count } }

    public func replace(with devices: [String: DeviceProfile]) {
        self.devices.withLock { $0 = devices }
    }

    private static let columns = "device_id, type, model, lifecycle_state"

    /// Reads every device from the registry (100,000 rows load in well under a second).
    public func reload(from connection: PostgresConnection) throws {
        let rows = try connection.query("SELECT \(Self.columns) FROM devices")
        replace(with: try Self.profiles(rows))
    }

    /// Re-reads the given devices (those a notification named); ids no longer in the registry are dropped.
    public func refresh(_ ids: Set<String>, from connection: PostgresConnection) throws {
        let found = try Self.profiles(ids, from: connection)
        devices.withLock {
            for id in ids { $0[id] = found[id] }
        }
    }

    /// Looks up ids that are not in memory (one query for the whole batch); the registered ones join the
    /// directory. True when any did. Unknown ids are looked up again with every batch that carries them: a
    /// registration counts at once, at the price of one small indexed query per such batch.
    @discardableResult
    public func lookUp(_ ids: Set<String>, from connection: PostgresConnection) throws -> Bool {
        let found = try Self.profiles(ids, from: connection)
        guard !found.isEmpty else { return false }
        devices.withLock { $0.merge(found) { _, new in new } }
        return true
    }

    private static func profiles(_ ids: Set<String>, from connection: PostgresConnection) throws -> [String: DeviceProfile] {
        guard !ids.isEmpty else { return [:] }
        return try profiles(connection.query("SELECT \(columns) FROM devices WHERE device_id = ANY($1::text[])",
                                             [PostgresArray.text(Array(ids))]))
    }

    private static func profiles(_ rows: PostgresRows) throws(PostgresError) -> [String: DeviceProfile] {
        var devices: [String: DeviceProfile] = [:]
        devices.reserveCapacity(rows.count)
        for row in rows.all {
            devices[try row.decode("device_id")] = try DeviceProfile(
                type: row.decode("type"), model: row.decodeIfPresent("model"), state: row.decode("lifecycle_state"))
        }
        return devices
    }
}
