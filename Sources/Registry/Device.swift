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
    public var afterDeviceId: String?
    public var limit: Int

    public init(type: String? = nil, state: LifecycleState? = nil, tenant: String? = nil,
                afterDeviceId: String? = nil, limit: Int) {
        self.type = type
        self.state = state
        self.tenant = tenant
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
    public var reason: String?
    public var atMicros: Int64
}

/// Why the registry refused a request.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(deviceId: String)
    /// Already registered (device id or serial number), or an illegal lifecycle change.
    case conflict(String)
    case lifecycle(LifecycleError)

    public var description: String {
        switch self {
        case .notFound(let id): "no device \(id) is registered"
        case .conflict(let message): message
        case .lifecycle(let error): error.description
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
    func apply(_ action: LifecycleAction, to deviceId: String, actor: String, reason: String?) async throws -> Device
}
