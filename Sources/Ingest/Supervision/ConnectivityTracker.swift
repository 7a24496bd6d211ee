/// Whether a device is heard from as its type expects.
public enum Connectivity: String, Sendable, Codable, CaseIterable {
    /// Never heard from since registration.
    case unknown
    case online
    case offline
}

/// What one accepted message tells supervision about its device.
public struct DeviceActivity: Sendable, Equatable {
    public var deviceID: String
    public var atMicros: Int64
    public var battery: Double?
    public var signalStrength: Double?
    public var firmware: String?
    /// `online` / `offline` when the message says so itself (a status message or a last will).
    public var reportedStatus: Connectivity?

    public init(deviceID: String, atMicros: Int64, battery: Double? = nil, signalStrength: Double? = nil,
                firmware: String? = nil, reportedStatus: Connectivity? = nil) {
        self.deviceID = deviceID
        self.atMicros = atMicros
        self.battery = battery
        self.signalStrength = signalStrength
        self.firmware = firmware
        self.reportedStatus = reportedStatus
    }
}

/// A device went offline or came back.
public struct ConnectivityChange: Sendable, Equatable {
    public var deviceID: String
    public var from: Connectivity
    public var to: Connectivity
    public var atMicros: Int64
    /// Why, in words: `message received`, `last will`, `silent for 1350 s (heartbeat 900 s)`.
    public var reason: String
    public var lastSeenMicros: Int64?
}

/// A device's supervision record as stored in `device_status`.
public struct DeviceStatus: Sendable, Equatable {
    public var connectivity: Connectivity = .unknown
    public var connectivitySinceMicros: Int64?
    public var lastSeenMicros: Int64?
    public var battery: Double?
    public var signalStrength: Double?
    public var firmware: String?

    public init(connectivity: Connectivity = .unknown, connectivitySinceMicros: Int64? = nil, lastSeenMicros: Int64? = nil,
                battery: Double? = nil, signalStrength: Double? = nil, firmware: String? = nil) {
        self.connectivity = connectivity
        self.connectivitySinceMicros = connectivitySinceMicros
        self.lastSeenMicros = lastSeenMicros
        self.battery = battery
        self.signalStrength = signalStrength
        self.firmware = firmware
    }
}

/// Supervision as a pure state machine: messages in, connectivity changes out; no clock and no I/O (the
/// `Supervisor` service supplies both). Holds every device it has heard of; changed ones are marked for the
/// next write.
public struct ConnectivityTracker: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// A device is offline once silent for `heartbeat × factor + grace`.
        public var toleranceFactor: Double = 1.5
        public var graceSeconds: Double = 10

        public init() {}

        public func silenceLimitMicros(heartbeatSeconds: Double) -> Int64 {
            Int64((heartbeatSeconds * toleranceFactor + graceSeconds) * 1e6)
        }
    }

    public let configuration: Configuration
    public private(set) var devices: [String: DeviceStatus] = [:]
    private var dirty: Set<String> = []

    public init(configuration: Configuration = .init(), devices: [String: DeviceStatus] = [:]) {
        self.configuration = configuration
        self.devices = devices
    }

    /// Takes in one message's facts. A message newer than the device's going offline brings it online; a status
    /// message (or last will) saying `offline` takes it offline at once.
    public mutating func record(_ activity: DeviceActivity) -> ConnectivityChange? {
        var status = devices[activity.deviceID] ?? DeviceStatus()
        let previous = status
        let newest = status.lastSeenMicros.map { activity.atMicros >= $0 } ?? true
        if newest {
            status.lastSeenMicros = activity.atMicros
            if let battery = activity.battery { status.battery = battery }
            if let signal = activity.signalStrength { status.signalStrength = signal }
            if let firmware = activity.firmware { status.firmware = firmware }
        }
        var change: ConnectivityChange?
        let target: Connectivity = activity.reportedStatus ?? .online
        let sinceOK = status.connectivitySinceMicros.map { activity.atMicros >= $0 } ?? true
        if newest, sinceOK, status.connectivity != target {
            change = ConnectivityChange(
                deviceID: activity.deviceID, from: status.connectivity, to: target, atMicros: activity.atMicros,
                reason: activity.reportedStatus == .offline ? "the device reported offline (last will)" : "message received",
                lastSeenMicros: previous.lastSeenMicros)
            status.connectivity = target
            status.connectivitySinceMicros = activity.atMicros
        }
        if status != previous {
            devices[activity.deviceID] = status
            dirty.insert(activity.deviceID)
        }
        return change
    }

    /// Devices online but silent beyond their type's limit go offline at `nowMicros`. `heartbeatSeconds` gives
    /// a device's expected interval (nil: not supervised, e.g. an unknown type).
    public mutating func sweep(nowMicros: Int64, heartbeatSeconds: (String) -> Double?) -> [ConnectivityChange] {
        var changes: [ConnectivityChange] = []
        for (id, status) in devices where status.connectivity == .online {
            guard let lastSeen = status.lastSeenMicros, let heartbeat = heartbeatSeconds(id) else { continue }
            let limit = configuration.silenceLimitMicros(heartbeatSeconds: heartbeat)
            guard nowMicros - lastSeen > limit else { continue }
            var updated = status
            updated.connectivity = .offline
            updated.connectivitySinceMicros = nowMicros
            devices[id] = updated
            dirty.insert(id)
            changes.append(ConnectivityChange(
                deviceID: id, from: .online, to: .offline, atMicros: nowMicros,
                reason: "silent for \((nowMicros - lastSeen) / 1_000_000) s (heartbeat \(Int(heartbeat)) s)",
                lastSeenMicros: lastSeen))
        }
        return changes.sorted { $0.deviceID < $1.deviceID }
    }

    /// The devices changed since the last call, to be written.
    public mutating func takeChanged() -> [(deviceID: String, status: DeviceStatus)] {
        defer { dirty.removeAll() }
        return dirty.sorted().compactMap { id in devices[id].map { (id, $0) } }
    }

    /// Marks devices as changed again (their write failed).
    public mutating func markChanged(_ ids: [String]) {
        dirty.formUnion(ids)
    }

    /// Forgets a device (decommissioned or deleted from the registry).
    public mutating func forget(_ deviceID: String) {
        devices[deviceID] = nil
        dirty.remove(deviceID)
    }
}
