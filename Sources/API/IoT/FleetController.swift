import Access
import Foundation
import Hummingbird
import Locks
import Models
import Registry

/// IoT tier: the fleet at a glance, and the device ids that publish without being registered.
struct FleetController<Context: ClientRequestContext> {
    let repository: any DeviceRepository
    /// Locks' grant lists (those that lag show in the fleet); nil where none are published.
    var grantLists: (any GrantListRepository)? = nil
    var grantListStaleAfterMicros: Int64 = 600_000_000

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("fleet", use: fleet)
        routes.get("unknown-devices", use: unknownDevices)
        return routes
    }

    /// `GET /iot/v1/fleet?lowBattery=20`: counts by type, state and connectivity, firmware versions in use, and
    /// the devices whose battery is below the threshold (percent).
    @Sendable func fleet(_ request: Request, context: Context) async throws -> FleetBody {
        let query = QueryReader(request)
        let threshold = try query.string("lowBattery", maxLength: 8).map { text -> Double in
            guard let value = Double(text), (0...100).contains(value) else {
                throw Problem.badParameter("lowBattery", "lowBattery must be a percentage from 0 to 100")
            }
            return value
        } ?? 20
        let fleet = try await repository.fleet(lowBatteryThreshold: threshold, tenants: context.scope.tenants)
        let stale = try await grantLists?.stale(tenants: context.scope.tenants, nowMicros: systemMicros(),
                                                graceMicros: grantListStaleAfterMicros) ?? []
        context.audit?.returned(records: fleet.total, dataClass: 2, subjects: fleet.lowBattery.map(\.deviceId) + stale.map(\.deviceId))
        var body = FleetBody(fleet)
        body.staleGrantLists = stale.map(StaleGrantListBody.init)
        return body
    }

    /// `GET /iot/v1/unknown-devices?limit=&cursor=`: quarantined ids, most recently seen first.
    @Sendable func unknownDevices(_ request: Request, context: Context) async throws -> Page<UnknownDeviceBody> {
        let query = QueryReader(request)
        let limit = try query.limit(default: 100, max: 1_000)
        let after = try query.string("cursor", maxLength: 1024).map(Cursor.decodeUnknownDevice)
        // Unknown ids belong to no tenant: only clients of every tenant see them.
        guard context.scope.tenants == nil else { return Page(items: [], nextCursor: nil) }
        let devices = try await repository.unknownDevices(after: after, limit: limit + 1)
        let page = devices.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: 2, subjects: page.map(\.deviceId))
        let next = devices.count > limit
            ? page.last.map { Cursor.encodeUnknownDevice(lastSeenMicros: $0.lastSeenMicros, id: $0.deviceId) } : nil
        return Page(items: page.map(UnknownDeviceBody.init), nextCursor: next)
    }
}

struct UnknownDeviceBody: Encodable {
    var deviceId: String
    var firstSeen: String
    var lastSeen: String
    var messageCount: Int64
    var lastTopic: String

    init(_ device: UnknownDevice) {
        deviceId = device.deviceId
        firstSeen = RFC3339.format(micros: device.firstSeenMicros)
        lastSeen = RFC3339.format(micros: device.lastSeenMicros)
        messageCount = device.messageCount
        lastTopic = device.lastTopic
    }
}

struct FleetBody: ResponseEncodable {
    struct LowBattery: Encodable {
        var deviceId: String
        var battery: Double
    }

    var total: Int
    var byType: [String: Int]
    var byState: [String: Int]
    var byConnectivity: [String: Int]
    var firmwareVersions: [String: Int]
    var lowBatteryThreshold: Double
    var lowBattery: [LowBattery]
    /// Locks that have not confirmed their newest grant list in time (at most 1,000, longest waiting first).
    var staleGrantLists: [StaleGrantListBody] = []

    init(_ fleet: FleetSummary) {
        total = fleet.total
        byType = fleet.byType
        byState = fleet.byState
        byConnectivity = fleet.byConnectivity
        firmwareVersions = fleet.firmwareVersions
        lowBatteryThreshold = fleet.lowBatteryThreshold
        lowBattery = fleet.lowBattery.map { LowBattery(deviceId: $0.deviceId, battery: $0.battery) }
    }
}

/// A lock that has not confirmed the newest grant list published to it (it decides offline with an older one).
struct StaleGrantListBody: Encodable, Sendable {
    var deviceId: String
    var version: Int64
    var publishedAt: String
    var heldVersion: Int64?
    var heldAt: String?
    var grants: Int

    init(_ state: GrantListState) {
        deviceId = state.deviceId
        version = state.version
        publishedAt = RFC3339.format(micros: state.publishedAtMicros)
        heldVersion = state.heldVersion
        heldAt = state.heldAtMicros.map { RFC3339.format(micros: $0) }
        grants = state.grantCount
    }
}
