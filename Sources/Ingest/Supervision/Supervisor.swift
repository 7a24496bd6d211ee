import Foundation
import Logging
import Models
import Postgres
import ServiceLifecycle
import Synchronization
import Telemetry

/// Heartbeat supervision: turns what the pipeline committed into last seen, battery, signal and firmware per
/// device, and into `device_online` / `device_offline` events (which the alarms consume); activates provisioned
/// devices on their first valid message. Writes every `interval`, never per message, and keeps its state in
/// `device_status`, from which it starts again after a restart.
public final class Supervisor: Service, BatchObserver, Sendable {
    public struct Configuration: Sendable {
        public var interval: Duration = .seconds(1)
        public var tracker = ConnectivityTracker.Configuration()
        /// Silence is judged only after ingest has been caught up this long: after an outage of the gateway
        /// itself, devices are not declared offline before their queued messages are read.
        public var settleTime: Duration = .seconds(10)

        public init() {}
    }

    private struct State {
        var tracker: ConnectivityTracker
        var changes: [ConnectivityChange] = []
        var activations: Set<String> = []
        var loaded = false
    }

    private let statuses: any DeviceStatusRepository
    private let catalogue: Catalogue
    private let directory: DeviceDirectory
    private let configuration: Configuration
    private let isCaughtUp: @Sendable () -> Bool
    /// Makes provisioned devices active after their first valid message: the registry's lifecycle, not ours.
    private let activate: (@Sendable (Set<String>) async throws -> Void)?
    private let logger: Logger
    private let state: Mutex<State>

    /// - Parameter isCaughtUp: whether ingest currently reads live traffic (broker connected, small backlog).
    public init(statuses: any DeviceStatusRepository, catalogue: Catalogue, directory: DeviceDirectory,
                configuration: Configuration = .init(), logger: Logger, isCaughtUp: @escaping @Sendable () -> Bool,
                activate: (@Sendable (Set<String>) async throws -> Void)? = nil) {
        self.activate = activate
        self.statuses = statuses
        self.catalogue = catalogue
        self.directory = directory
        self.configuration = configuration
        self.isCaughtUp = isCaughtUp
        self.logger = logger
        self.state = Mutex(State(tracker: ConnectivityTracker(configuration: configuration.tracker)))
    }

    /// Keeps its state in PostgreSQL (`PostgresDeviceStatusRepository`).
    public convenience init(pool: PostgresPool, catalogue: Catalogue, directory: DeviceDirectory,
                            configuration: Configuration = .init(), logger: Logger, isCaughtUp: @escaping @Sendable () -> Bool,
                            activate: (@Sendable (Set<String>) async throws -> Void)? = nil) {
        self.init(statuses: PostgresDeviceStatusRepository(pool: pool), catalogue: catalogue, directory: directory,
                  configuration: configuration, logger: logger, isCaughtUp: isCaughtUp, activate: activate)
    }

    /// The pipeline committed a batch: each accepted message is activity of its device.
    public func committed(_ batch: CommittedBatch) {
        record(DeviceActivity.of(batch), profiles: batch.profiles)
    }

    /// Records activity of devices (what a committed batch says about them).
    public func record(_ activities: [DeviceActivity], profiles: [String: DeviceProfile]) {
        guard !activities.isEmpty else { return }
        state.withLock { state in
            for activity in activities {
                if let change = state.tracker.record(activity) { state.changes.append(change) }
                if profiles[activity.deviceID]?.state == LifecycleStateName.provisioned {
                    state.activations.insert(activity.deviceID)
                }
            }
        }
    }

    /// A device's supervision state as known in memory.
    public func status(of deviceID: String) -> DeviceStatus? {
        state.withLock { $0.tracker.devices[deviceID] }
    }

    public func run() async throws {
        var caughtUpSince: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.interval) }
            if isCaughtUp() {
                caughtUpSince = caughtUpSince ?? .now
            } else {
                caughtUpSince = nil
            }
            let sweep = caughtUpSince.map { ContinuousClock.now - $0 >= configuration.settleTime } ?? false
            await tick(sweep: sweep)
        }
        await tick(sweep: false)
    }

    /// Loads the stored state (once), sweeps for silent devices when allowed, and writes what changed.
    func tick(sweep: Bool) async {
        do {
            if !state.withLock({ $0.loaded }) { try await load() }
        } catch {
            logger.warning("supervision could not load its state; retrying", metadata: ["error": "\(error)"])
            return
        }
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        let profiles = directory.snapshot
        let (changed, changes, activations) = state.withLock { state in
            if sweep {
                state.changes += state.tracker.sweep(nowMicros: now) { id in self.heartbeatSeconds(profiles[id]) }
            }
            defer {
                state.changes.removeAll()
                state.activations.removeAll()
            }
            return (state.tracker.takeChanged(), state.changes, state.activations)
        }
        guard !changed.isEmpty || !changes.isEmpty || !activations.isEmpty else { return }
        let events = changes.map(event)
        do {
            try await statuses.save(changed, events: events)
            if !activations.isEmpty, let activate {
                do {
                    try await activate(activations)
                } catch {
                    logger.warning("activation failed; retrying", metadata: ["error": "\(error)"])
                    state.withLock { $0.activations.formUnion(activations) }
                }
            }
            for change in changes {
                logger.notice("device \(change.to.rawValue)", metadata: ["device": "\(change.deviceID)", "reason": "\(change.reason)"])
            }
        } catch {
            logger.warning("supervision write failed; retrying", metadata: ["error": "\(error)"])
            state.withLock { state in
                state.tracker.markChanged(changed.map(\.deviceID))
                state.changes = changes + state.changes
                state.activations.formUnion(activations)
            }
        }
    }

    /// The expected heartbeat of a device that is supervised: provisioned or active, of a catalogue type.
    private func heartbeatSeconds(_ profile: DeviceProfile?) -> Double? {
        guard let profile, profile.state == LifecycleStateName.active || profile.state == LifecycleStateName.provisioned,
              let type = catalogue.deviceType(profile.type) else { return nil }
        return Double(type.heartbeatIntervalSeconds)
    }

    private func event(_ change: ConnectivityChange) -> DeviceEvent {
        let name = change.to == .offline ? "device_offline" : "device_online"
        var attributes = ["reason": change.reason, "from": change.from.rawValue]
        if let lastSeen = change.lastSeenMicros {
            attributes["lastSeen"] = RFC3339.format(micros: lastSeen, fractionDigits: 3)
        }
        let key = MessageKey.compute(topic: "supervision/\(change.deviceID)", payload: Array(name.utf8),
                                     receivedAtMicros: change.atMicros)
        return DeviceEvent(deviceID: change.deviceID, event: name, observedAtMicros: change.atMicros,
                           receivedAtMicros: change.atMicros, attributes: attributes,
                           confidentiality: catalogue.event(name)?.classification.confidentiality.rawValue ?? 2,
                           messageKey: key, sourcePath: "supervision")
    }

    private func load() async throws {
        let devices = try await statuses.statuses()
        state.withLock { state in
            // Activity recorded before the load (a replay at start) wins over the stored state.
            var tracker = ConnectivityTracker(configuration: configuration.tracker, devices: devices)
            for (id, status) in state.tracker.devices {
                _ = tracker.record(DeviceActivity(deviceID: id, atMicros: status.lastSeenMicros ?? 0,
                                                  battery: status.battery, signalStrength: status.signalStrength,
                                                  firmware: status.firmware,
                                                  reportedStatus: status.connectivity == .offline ? .offline : nil))
            }
            state.tracker = tracker
            state.loaded = true
        }
        logger.info("supervision state loaded", metadata: ["devices": "\(devices.count)"])
    }
}

/// Lifecycle state names as the registry stores them (Ingest does not depend on the Registry module).
enum LifecycleStateName {
    static let provisioned = "provisioned"
    static let active = "active"
}

extension DeviceActivity {
    /// What a committed batch tells supervision: one activity per accepted (or partly accepted) message, in
    /// journal order, with the battery, signal, firmware and reported status that message carried.
    public static func of(_ batch: CommittedBatch) -> [DeviceActivity] {
        var activities: [DeviceActivity] = []
        var byKey: [[UInt8]: Int] = [:]
        for message in batch.rawMessages where message.outcome == .accepted || message.outcome == .partial {
            guard let id = message.deviceID else { continue }
            byKey[message.messageKey] = activities.count
            activities.append(DeviceActivity(deviceID: id, atMicros: message.receivedAtMicros))
        }
        for observation in batch.observations {
            guard let index = byKey[observation.messageKey] else { continue }
            switch (observation.quantity, observation.value) {
            case ("battery", .number(let value)): activities[index].battery = value
            case ("signal_strength", .number(let value)): activities[index].signalStrength = value
            case ("firmware_version", .string(let value)): activities[index].firmware = value
            case ("status", .string(let value)): activities[index].reportedStatus = Connectivity(rawValue: value)
            default: break
            }
        }
        return activities
    }
}
