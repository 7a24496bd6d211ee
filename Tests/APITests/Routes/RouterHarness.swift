import API
import Access
import Alarms
import Foundation
import Hummingbird
import HummingbirdTesting
import Locks
import Logging
import Models
import NGSILD
import NIOCore
import Registry
import SafeZones
import Telemetry

/// The whole router over in-memory repositories and an in-memory token table: no database, no broker.
struct Harness: Sendable {
    let devices: InMemoryDeviceRepository
    let telemetry = InMemoryTelemetryRepository()
    let alarms: InMemoryAlarmRepository
    let broker = InMemoryBrokerAccess()
    let grants: InMemoryGrantRepository
    let grantLists: InMemoryGrantListRepository
    /// The audit trail the middleware appends to; `flush()` it to read what it noted.
    let auditTrail: AuditTrail
    let auditLog: InMemoryAuditLog
    let commands = InMemoryCommandRepository()
    var reports = InMemoryLockReportRepository()
    let zones = InMemoryZoneRepository()
    let subjects = InMemorySubjectAccessRepository()
    let clients = InMemoryClientAuthenticator([
        "admin": ClientIdentity(name: "admin", roles: [.deviceAdmin], tenants: nil, clearance: 3),
        "admin-north": ClientIdentity(name: "admin-north", roles: [.deviceAdmin], tenants: ["north"], clearance: 3),
        "reader": ClientIdentity(name: "reader", roles: [.integrator], tenants: nil, clearance: 3),
        "reader-2": ClientIdentity(name: "reader-2", roles: [.integrator], tenants: nil, clearance: 2),
        "reader-south": ClientIdentity(name: "reader-south", roles: [.integrator], tenants: ["south"], clearance: 3),
        "operator-north": ClientIdentity(name: "operator-north", roles: [.alarmOperator], tenants: ["north"], clearance: 3),
        "planner-north": ClientIdentity(name: "planner-north", roles: [.carePlanner], tenants: ["north"], clearance: 3),
        "planner-2": ClientIdentity(name: "planner-2", roles: [.carePlanner], tenants: nil, clearance: 2),
        "app-north": ClientIdentity(name: "app-north", roles: [.lockOperator], tenants: ["north"], clearance: 3),
        "app-2": ClientIdentity(name: "app-2", roles: [.lockOperator], tenants: nil, clearance: 2),
        "auditor": ClientIdentity(name: "auditor", roles: [.auditor], tenants: nil, clearance: 3),
        "operator-north-2": ClientIdentity(name: "operator-north-2", roles: [.alarmOperator], tenants: ["north"], clearance: 2),
        "operator-all": ClientIdentity(name: "operator-all", roles: [.alarmOperator], tenants: nil, clearance: 3),
        "auditor-north": ClientIdentity(name: "auditor-north", roles: [.auditor], tenants: ["north"], clearance: 3),
        "auditor-2": ClientIdentity(name: "auditor-2", roles: [.auditor], tenants: nil, clearance: 2),
        "public": ClientIdentity(name: "public", roles: [.openData], tenants: nil, clearance: 1),
        "public-north": ClientIdentity(name: "public-north", roles: [.openData], tenants: ["north"], clearance: 1),
        "writer-north": ClientIdentity(name: "writer-north", roles: [.cipWriter], tenants: ["north"], clearance: 1),
        "writer-both": ClientIdentity(name: "writer-both", roles: [.cipWriter], tenants: ["north", "south"], clearance: 1),
        "privacy": ClientIdentity(name: "privacy", roles: [.privacyOfficer], tenants: nil, clearance: 3),
        "privacy-north": ClientIdentity(name: "privacy-north", roles: [.privacyOfficer], tenants: ["north"], clearance: 3),
        "privacy-2": ClientIdentity(name: "privacy-2", roles: [.privacyOfficer], tenants: nil, clearance: 2),
    ])

    /// Alarm visits write their grants into `grants`, as the real gateway does into `lock_grants`.
    init(visitTimes: AlarmVisitTimes = .standard) {
        let devices = InMemoryDeviceRepository()
        self.devices = devices
        let grants = InMemoryGrantRepository()
        self.grants = grants
        grantLists = InMemoryGrantListRepository(grants: grants) {
            try await devices.list(DeviceQuery(limit: .max)).map { device in
                InMemoryGrantListRepository.Device(deviceId: device.deviceId, tenant: device.tenant, type: device.type,
                                                   lifecycleState: device.lifecycleState.rawValue)
            }
        }
        let auditLog = InMemoryAuditLog {
            try await devices.list(DeviceQuery(limit: .max)).map { device in
                InMemoryAuditLog.Device(deviceId: device.deviceId, tenant: device.tenant, careRecipientRef: device.careRecipientRef)
            }
        }
        self.auditLog = auditLog
        auditTrail = AuditTrail(log: auditLog, logger: Logger(label: "test.audit"))
        alarms = InMemoryAlarmRepository(visits: AlarmVisits(grants: InMemoryAlarmVisitGrants(repository: grants), times: visitTimes))
    }

    static let catalogue: Catalogue = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return try! Catalogue.load(from: root.appendingPathComponent("DataModels"))
    }()

    let subscriptions = InMemorySubscriptionRepository()

    /// The NGSI-LD facade's open data: the class 1 values of `telemetry`.
    var openData: InMemoryOpenDataRepository { InMemoryOpenDataRepository(over: telemetry) }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let openData = self.openData
        var dependencies = APIDependencies(catalogue: Self.catalogue, telemetry: telemetry, devices: devices,
                                           authenticator: clients, auditTrail: auditTrail, openData: openData, broker: broker, alarms: alarms,
                                           grants: grants, lockCommands: commands, lockReports: reports, zones: zones)
        dependencies.openDataWriter = openData
        dependencies.subscriptions = subscriptions
        dependencies.notificationEndpoints = NotificationEndpoints(allowedHosts: ["127.0.0.1"], broker: nil)
        dependencies.grantLists = grantLists
        dependencies.subjectAccess = subjects
        try await Application(router: buildRouter(dependencies)).test(.router, body)
    }

    /// A device registered straight in the repository (and known to the telemetry tables' joins).
    @discardableResult
    func register(_ id: String, tenant: String = "north", type: String = "digital-lock",
                  careRecipientRef: String? = nil) async throws -> Device {
        let row = DeviceImportRow(deviceId: id, serialNumber: "SN-\(id)", type: type, tenant: tenant, careRecipientRef: careRecipientRef)
        telemetry.registered(id, tenant: tenant)
        return try await devices.register([ImportedRow(line: 1, row: row)], actor: "test", claimValiditySeconds: 60)
            .registered[0].device
    }
}

/// A response as the tests read it.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let text: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    func strings(_ key: String, in list: [[String: Any]]? = nil) -> [String] { (list ?? items).compactMap { $0[key] as? String } }
}

extension TestClientProtocol {
    func call(_ method: HTTPRequest.Method, _ uri: String, token: String?, body: String? = nil,
              contentType: String = "application/json") async throws -> Reply {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = contentType }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, text: String(buffer: response.body))
        }
    }
}

/// Alarm grants in memory: the in-memory alarm repository's side of `AlarmVisitGrants` (the gateway's is
/// `PostgresAlarmVisitGrants` in Composition).
struct InMemoryAlarmVisitGrants: AlarmVisitGrants {
    let repository: InMemoryGrantRepository

    func grant(staffRef: String, lockIds: [String], alarmId: Int64, fromMicros: Int64, toMicros: Int64, grantedBy: String,
               reason: String, in transaction: Void) throws -> [ResponderGrant] {
        repository.createAlarmGrants(staffRef: staffRef, lockIds: lockIds, alarmId: alarmId, fromMicros: fromMicros,
                                     toMicros: toMicros, grantedBy: grantedBy, reason: reason).map(Self.shown)
    }

    func end(alarmId: Int64, atMicros: Int64, by: String, in transaction: Void) throws -> [ResponderGrant] {
        repository.endAlarmGrants(alarmId: alarmId, atMicros: atMicros, by: by).map(Self.shown)
    }

    static func shown(_ grant: AccessGrant) -> ResponderGrant {
        ResponderGrant(id: grant.id, lockId: grant.deviceId, staffRef: grant.staffRef, validFromMicros: grant.validFromMicros ?? 0,
                       validToMicros: grant.validToMicros ?? 0, revokedAtMicros: grant.revokedAtMicros)
    }
}
