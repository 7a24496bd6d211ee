import Foundation
import Synchronization

/// The registry in memory, for tests of the routes without a database. It keeps the semantics the routes rely
/// on as `PostgresDeviceRepository` has them: taken ids and serials are rejected per row, every lifecycle change
/// goes through `Lifecycle.apply` (resume returns to the state of the latest `suspend`), unknown ids throw
/// `RegistryError.notFound`, lists are ordered and paged by device id and scoped to `DeviceQuery.tenants`.
public final class InMemoryDeviceRepository: DeviceRepository {
    private struct State {
        var devices: [String: Device] = [:]
        var history: [String: [DeviceHistoryEntry]] = [:]
        var unknown: [UnknownDevice] = []
    }

    private let state = Mutex(State())

    public init() {}

    private static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }

    public func register(_ rows: [ImportedRow], actor: String, claimValiditySeconds: Double) async throws
        -> (registered: [RegisteredDevice], rejected: [ImportRejection])
    {
        let now = Self.now
        return state.withLock { state in
            var registered: [RegisteredDevice] = []
            var rejected: [ImportRejection] = []
            for row in rows {
                let serials = Set(state.devices.values.map(\.serialNumber))
                if let rejection = ImportRejection.taken(row, ids: Set(state.devices.keys), serials: serials) {
                    rejected.append(rejection)
                    continue
                }
                let r = row.row
                let device = Device(deviceId: r.deviceId, serialNumber: r.serialNumber, type: r.type, vendor: r.vendor,
                                    model: r.model, firmwareVersion: r.firmwareVersion, tenant: r.tenant,
                                    placement: r.placement, careRecipientRef: r.careRecipientRef, tags: r.tags,
                                    lifecycleState: .registered, createdAtMicros: now, updatedAtMicros: now)
                state.devices[r.deviceId] = device
                state.history[r.deviceId] = [DeviceHistoryEntry(from: nil, to: .registered, action: "register",
                                                                actor: actor, reason: nil, atMicros: now)]
                registered.append(RegisteredDevice(device: device, claimCode: ClaimCode.generate(),
                                                   claimExpiresAtMicros: now + Int64(claimValiditySeconds * 1e6)))
            }
            return (registered, rejected)
        }
    }

    public func device(_ deviceId: String) async throws -> Device? {
        state.withLock { $0.devices[deviceId] }
    }

    public func list(_ query: DeviceQuery) async throws -> [Device] {
        let text = query.text?.lowercased()
        return state.withLock { state in
            state.devices.values.filter { device in
                (query.type.map { $0 == device.type } ?? true)
                    && (query.state.map { $0 == device.lifecycleState } ?? true)
                    && (query.tenant.map { $0 == device.tenant } ?? true)
                    && (query.afterDeviceId.map { device.deviceId > $0 } ?? true)
                    && (query.connectivity.map { $0 == device.supervision.connectivity } ?? true)
                    && (query.tenants.map { $0.contains(device.tenant) } ?? true)
                    && (query.careRecipientRef.map { $0 == device.careRecipientRef } ?? true)
                    && (text.map { text in
                        ([device.deviceId, device.serialNumber, device.placement, device.vendor, device.model] as [String?])
                            .contains { $0?.lowercased().contains(text) == true }
                    } ?? true)
            }
            .sorted { $0.deviceId < $1.deviceId }
            .prefix(query.limit).map { $0 }
        }
    }

    public func history(_ deviceId: String) async throws -> [DeviceHistoryEntry] {
        state.withLock { $0.history[deviceId] ?? [] }
    }

    public func apply(_ action: LifecycleAction, to deviceId: String, actor: String, client: String?, reason: String?) async throws -> Device {
        let now = Self.now
        return try state.withLock { state in
            guard var device = state.devices[deviceId] else { throw RegistryError.notFound(deviceId: deviceId) }
            let suspendedFrom = action == .resume
                ? state.history[deviceId]?.last(where: { $0.action == LifecycleAction.suspend.rawValue })?.from : nil
            let current = device.lifecycleState
            switch Lifecycle.apply(action, to: current, suspendedFrom: suspendedFrom) {
            case .success(let next): device.lifecycleState = next
            case .failure(let error): throw RegistryError.lifecycle(error)
            }
            device.updatedAtMicros = now
            state.devices[deviceId] = device
            state.history[deviceId, default: []].append(DeviceHistoryEntry(
                from: current, to: device.lifecycleState, action: action.rawValue, actor: actor, client: client,
                reason: reason, atMicros: now))
            return device
        }
    }

    public func update(_ deviceId: String, with patch: DevicePatch, actor: String, client: String?) async throws -> Device {
        let now = Self.now
        return try state.withLock { state in
            guard var device = state.devices[deviceId] else { throw RegistryError.notFound(deviceId: deviceId) }
            // nil: unchanged; "" clears an optional field.
            func set(_ field: WritableKeyPath<Device, String?>, _ value: String?) {
                if let value { device[keyPath: field] = value.isEmpty ? nil : value }
            }
            set(\.vendor, patch.vendor)
            set(\.model, patch.model)
            set(\.firmwareVersion, patch.firmwareVersion)
            set(\.placement, patch.placement)
            set(\.careRecipientRef, patch.careRecipientRef)
            device.tenant = patch.tenant ?? device.tenant
            device.tags = patch.tags ?? device.tags
            device.updatedAtMicros = now
            state.devices[deviceId] = device
            state.history[deviceId, default: []].append(DeviceHistoryEntry(
                from: device.lifecycleState, to: device.lifecycleState, action: "update", actor: actor, client: client,
                reason: "changed: " + patch.fieldNames.joined(separator: ", "), atMicros: now))
            return device
        }
    }

    public func unknownDevices(after: (lastSeenMicros: Int64, deviceId: String)?, limit: Int) async throws -> [UnknownDevice] {
        state.withLock { state in
            state.unknown
                .sorted { ($0.lastSeenMicros, $0.deviceId) > ($1.lastSeenMicros, $1.deviceId) }
                .filter { device in after.map { (device.lastSeenMicros, device.deviceId) < ($0.lastSeenMicros, $0.deviceId) } ?? true }
                .prefix(limit).map { $0 }
        }
    }

    public func fleet(lowBatteryThreshold: Double, tenants: [String]?) async throws -> FleetSummary {
        state.withLock { state in
            var summary = FleetSummary()
            summary.lowBatteryThreshold = lowBatteryThreshold
            let devices = state.devices.values.filter { tenants?.contains($0.tenant) ?? true }
            for device in devices {
                summary.total += 1
                summary.byType[device.type, default: 0] += 1
                summary.byState[device.lifecycleState.rawValue, default: 0] += 1
                guard device.lifecycleState != .decommissioned else { continue }
                summary.byConnectivity[device.supervision.connectivity, default: 0] += 1
                if let firmware = device.supervision.reportedFirmware ?? device.firmwareVersion {
                    summary.firmwareVersions[firmware, default: 0] += 1
                }
                if let battery = device.supervision.battery, battery < lowBatteryThreshold {
                    summary.lowBattery.append((device.deviceId, battery))
                }
            }
            summary.lowBattery = Array(summary.lowBattery.sorted { ($0.battery, $0.deviceId) < ($1.battery, $1.deviceId) }.prefix(100))
            return summary
        }
    }

    // What the supervision and the quarantine write in the real stack (tables `device_status`, `unknown_devices`).

    /// Changes what supervision knows of a registered device.
    public func supervise(_ deviceId: String, _ change: (inout DeviceSupervision) -> Void) {
        state.withLock { state in
            guard var device = state.devices[deviceId] else { return }
            change(&device.supervision)
            state.devices[deviceId] = device
        }
    }

    /// Records messages of an unregistered device id.
    public func sighted(unknown deviceId: String, atMicros: Int64, topic: String, count: Int64 = 1) {
        state.withLock { state in
            if let index = state.unknown.firstIndex(where: { $0.deviceId == deviceId }) {
                state.unknown[index].lastSeenMicros = max(state.unknown[index].lastSeenMicros, atMicros)
                state.unknown[index].messageCount += count
                state.unknown[index].lastTopic = topic
            } else {
                state.unknown.append(UnknownDevice(deviceId: deviceId, firstSeenMicros: atMicros, lastSeenMicros: atMicros,
                                                   messageCount: count, lastTopic: topic))
            }
        }
    }
}
