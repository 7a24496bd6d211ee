/// A registered device as the registry keeps it.
public struct Device: Sendable, Equatable {
    public var deviceId: String
    public var serialNumber: String
    public var type: String
    public var vendor: String?
    public var model: String?
    public var firmwareVersion: String?
    public var tenant: String
    public var placement: String?
    /// Pseudonymous; never a name or a personal identity number.
    public var careRecipientRef: String?
    public var tags: [String]
    public var lifecycleState: LifecycleState
    public var createdAtMicros: Int64
    public var updatedAtMicros: Int64
    /// What supervision last learned from the device's messages.
    public var supervision = DeviceSupervision()

    public init(deviceId: String, serialNumber: String, type: String, vendor: String?, model: String?,
                firmwareVersion: String?, tenant: String, placement: String?, careRecipientRef: String?,
                tags: [String], lifecycleState: LifecycleState, createdAtMicros: Int64, updatedAtMicros: Int64) {
        self.deviceId = deviceId
        self.serialNumber = serialNumber
        self.type = type
        self.vendor = vendor
        self.model = model
        self.firmwareVersion = firmwareVersion
        self.tenant = tenant
        self.placement = placement
        self.careRecipientRef = careRecipientRef
        self.tags = tags
        self.lifecycleState = lifecycleState
        self.createdAtMicros = createdAtMicros
        self.updatedAtMicros = updatedAtMicros
    }
}

/// What supervision knows of a device: `connectivity` is `unknown` until its first message.
public struct DeviceSupervision: Sendable, Equatable {
    public var connectivity: String = "unknown"
    public var connectivitySinceMicros: Int64?
    public var lastSeenMicros: Int64?
    public var battery: Double?
    public var signalStrength: Double?
    /// The firmware version the device itself reported (the registered one is `Device.firmwareVersion`).
    public var reportedFirmware: String?

    public init() {}
}

/// Metadata an administrator may change after registration (nil: leave as is; an empty string clears an
/// optional field). Identity (id, serial number, type) never changes.
public struct DevicePatch: Sendable, Equatable {
    public var vendor: String?
    public var model: String?
    public var firmwareVersion: String?
    public var tenant: String?
    public var placement: String?
    public var careRecipientRef: String?
    public var tags: [String]?

    public init(vendor: String? = nil, model: String? = nil, firmwareVersion: String? = nil, tenant: String? = nil,
                placement: String? = nil, careRecipientRef: String? = nil, tags: [String]? = nil) {
        self.vendor = vendor
        self.model = model
        self.firmwareVersion = firmwareVersion
        self.tenant = tenant
        self.placement = placement
        self.careRecipientRef = careRecipientRef
        self.tags = tags
    }

    /// The names of the fields this patch sets, for the history entry.
    public var fieldNames: [String] {
        [("vendor", vendor != nil), ("model", model != nil), ("firmwareVersion", firmwareVersion != nil),
         ("tenant", tenant != nil), ("placement", placement != nil), ("careRecipientRef", careRecipientRef != nil),
         ("tags", tags != nil)].filter(\.1).map(\.0)
    }
}

/// A device id that published without being registered (its messages are quarantined).
public struct UnknownDevice: Sendable, Equatable {
    public var deviceId: String
    public var firstSeenMicros: Int64
    public var lastSeenMicros: Int64
    public var messageCount: Int64
    public var lastTopic: String
}

/// The fleet at a glance.
public struct FleetSummary: Sendable, Equatable {
    public var total: Int = 0
    public var byType: [String: Int] = [:]
    public var byState: [String: Int] = [:]
    public var byConnectivity: [String: Int] = [:]
    /// Firmware versions in use (reported, else registered) and how many devices run each.
    public var firmwareVersions: [String: Int] = [:]
    /// Devices whose last reported battery is below the threshold, lowest first (at most 100).
    public var lowBattery: [(deviceId: String, battery: Double)] = []
    public var lowBatteryThreshold: Double = 20

    public init() {}

    public static func == (lhs: FleetSummary, rhs: FleetSummary) -> Bool {
        lhs.total == rhs.total && lhs.byType == rhs.byType && lhs.byState == rhs.byState
            && lhs.byConnectivity == rhs.byConnectivity && lhs.firmwareVersions == rhs.firmwareVersions
            && lhs.lowBattery.map(\.deviceId) == rhs.lowBattery.map(\.deviceId)
    }
}

/// A device just registered, with its claim code: shown once, stored only as a salted hash.
public struct RegisteredDevice: Sendable, Equatable {
    public var device: Device
    public var claimCode: String
    public var claimExpiresAtMicros: Int64
}

/// Which devices to list; keyset pagination by device id.
public struct DeviceQuery: Sendable, Equatable {
    public var type: String?
    public var state: LifecycleState?
    public var tenant: String?
    public var connectivity: String?
    /// Free text: part of the device id, serial number, placement, vendor or model (case-insensitive).
    public var text: String?
    /// Only devices of these tenants (the client's scope); nil: every tenant.
    public var tenants: [String]?
    /// Only the devices registered for this care recipient.
    public var careRecipientRef: String?
    public var afterDeviceId: String?
    public var limit: Int

    public init(type: String? = nil, state: LifecycleState? = nil, tenant: String? = nil, connectivity: String? = nil,
                text: String? = nil, afterDeviceId: String? = nil, limit: Int) {
        self.type = type
        self.state = state
        self.tenant = tenant
        self.connectivity = connectivity
        self.text = text
        self.afterDeviceId = afterDeviceId
        self.limit = limit
    }
}

/// One line of a device's history, oldest first; registration is the first (without a `from`).
public struct DeviceHistoryEntry: Sendable, Equatable {
    public var from: LifecycleState?
    public var to: LifecycleState
    /// A lifecycle action, or `register`.
    public var action: String
    public var actor: String
    /// The authenticated API client that made the change (nil: not made through the API); `actor` is what the
    /// request named, recorded beside it, never instead.
    public var client: String? = nil
    public var reason: String?
    public var atMicros: Int64
}

extension DeviceRepository {
    /// A change made outside the API (CLI, tests): no client to record.
    public func apply(_ action: LifecycleAction, to deviceId: String, actor: String, reason: String?) async throws -> Device {
        try await apply(action, to: deviceId, actor: actor, client: nil, reason: reason)
    }

    public func update(_ deviceId: String, with patch: DevicePatch, actor: String) async throws -> Device {
        try await update(deviceId, with: patch, actor: actor, client: nil)
    }
}

/// Why the registry refused a request.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(deviceId: String)
    /// Already registered (device id or serial number), or an illegal lifecycle change.
    case conflict(String)
    case lifecycle(LifecycleError)
    /// The request breaks a field rule (the message says which).
    case invalid(String)
    /// The caller may not act for this tenant.
    case outOfScope(tenant: String)

    public var description: String {
        switch self {
        case .notFound(let id): "no device \(id) is registered"
        case .conflict(let message): message
        case .lifecycle(let error): error.description
        case .invalid(let message): message
        case .outOfScope(let tenant): "tenant \(tenant) is not one of this client's"
        }
    }
}

/// Storage of the registry; the API's view of devices.
public protocol DeviceRepository: Sendable {
    /// Registers every row in one transaction. Rows whose device id or serial number is taken are returned as
    /// rejections (with their line) and not written; the others are.
    func register(_ rows: [ImportedRow], actor: String, claimValiditySeconds: Double) async throws
        -> (registered: [RegisteredDevice], rejected: [ImportRejection])
    func device(_ deviceId: String) async throws -> Device?
    func list(_ query: DeviceQuery) async throws -> [Device]
    func history(_ deviceId: String) async throws -> [DeviceHistoryEntry]
    /// Applies a lifecycle action and appends it to the history, in one transaction.
    /// `client` is the authenticated API client, recorded beside `actor` (nil when no API client made it).
    func apply(_ action: LifecycleAction, to deviceId: String, actor: String, client: String?, reason: String?) async throws -> Device
    /// Changes metadata and appends an `update` entry naming the fields to the history.
    func update(_ deviceId: String, with patch: DevicePatch, actor: String, client: String?) async throws -> Device
    /// Unregistered ids seen on the broker, most recently seen first; keyset pagination by (last seen, id).
    func unknownDevices(after: (lastSeenMicros: Int64, deviceId: String)?, limit: Int) async throws -> [UnknownDevice]
    /// Over the devices of `tenants` (nil: every tenant).
    func fleet(lowBatteryThreshold: Double, tenants: [String]?) async throws -> FleetSummary
}
