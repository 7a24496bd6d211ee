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
/// (a trigger), which `DirectoryListener` turns into `refresh(_:from:)` in every gateway instance; a device id
/// that is not in memory is looked up once before its message is quarantined (so a message right after a
/// registration never loses the race with the notification); and a full reload runs now and then as a safety net.
public final class DeviceDirectory: Sendable {
    private struct State {
        var devices: [String: DeviceProfile] = [:]
        /// Ids looked up and found unregistered, with when: not looked up again for a while.
        var knownUnknown: [String: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
    /// How long an id found unregistered is not looked up again (a registration notification clears it sooner).
    private let negativeLifetime: Duration

    public init(_ devices: [String: DeviceProfile] = [:], negativeLifetime: Duration = .seconds(10)) {
        self.negativeLifetime = negativeLifetime
        state.withLock { $0.devices = devices }
    }

    public var snapshot: [String: DeviceProfile] { state.withLock { $0.devices } }

    public var count: Int { state.withLock { $0.devices.count } }

    public func replace(with devices: [String: DeviceProfile]) {
        state.withLock {
            $0.devices = devices
            $0.knownUnknown.removeAll()
        }
    }

    private static let columns = "device_id, type, model, lifecycle_state"

    /// Reads every device from the registry (100,000 rows load in well under a second).
    public func reload(from connection: PostgresConnection) throws {
        let rows = try connection.query("SELECT \(Self.columns) FROM devices")
        replace(with: Self.profiles(rows))
    }

    /// Re-reads the given devices (those a notification named); ids no longer in the registry are dropped.
    public func refresh(_ ids: Set<String>, from connection: PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        let rows = try connection.query("SELECT \(Self.columns) FROM devices WHERE device_id = ANY($1::text[])",
                                        [PostgresArray.text(Array(ids))])
        let found = Self.profiles(rows)
        state.withLock {
            for id in ids {
                $0.devices[id] = found[id]
                $0.knownUnknown[id] = nil
            }
        }
    }

    /// Of `ids`, those neither in memory nor recently found unregistered: the ones worth a database lookup.
    public func missing(_ ids: Set<String>) -> Set<String> {
        let now = ContinuousClock.now
        return state.withLock { state in
            ids.filter { id in
                guard state.devices[id] == nil else { return false }
                guard let checked = state.knownUnknown[id] else { return true }
                return now - checked >= negativeLifetime
            }
        }
    }

    /// Looks up ids that are not in memory; the found ones join the directory, the others are remembered as
    /// unregistered for a while (a flood from unknown ids costs one lookup per id and period, not per message).
    public func lookUp(_ ids: Set<String>, from connection: PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        let rows = try connection.query("SELECT \(Self.columns) FROM devices WHERE device_id = ANY($1::text[])",
                                        [PostgresArray.text(Array(ids))])
        let found = Self.profiles(rows)
        let now = ContinuousClock.now
        state.withLock {
            for id in ids {
                if let profile = found[id] {
                    $0.devices[id] = profile
                    $0.knownUnknown[id] = nil
                } else {
                    $0.knownUnknown[id] = now
                }
            }
            if $0.knownUnknown.count > 100_000 { $0.knownUnknown.removeAll() }
        }
    }

    private static func profiles(_ rows: PostgresRows) -> [String: DeviceProfile] {
        var devices: [String: DeviceProfile] = [:]
        devices.reserveCapacity(rows.count)
        for row in rows.all {
            guard let id = row["device_id"], let type = row["type"] else { continue }
            devices[id] = DeviceProfile(type: type, model: row["model"], state: row["lifecycle_state"] ?? "registered")
        }
        return devices
    }
}
