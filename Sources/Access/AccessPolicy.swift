/// What an API client may be for. Raw values are the CLI and database spelling.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// The IoT tier: devices, connectivity, raw messages, dead letters.
    case deviceAdmin = "device-admin"
    /// Alarms (read, acknowledge, resolve) and what the alarm team needs beside them (device latest values).
    case alarmOperator = "alarm-operator"
    /// Integration-tier reads: normalized data, models, alarms.
    case integrator
    /// The audit trail.
    case auditor
    /// The CIP facade (open data).
    case openData = "open-data"
    /// The care-planning system: access grants of digital locks (visits).
    case carePlanner = "care-planner"
    /// The home-care staff's app (its backend): remote unlock and lock for a staff member inside their grants.
    case lockOperator = "lock-operator"
    /// Other city systems writing open data (class 1 quantities of their own entities) through the CIP tier.
    case cipWriter = "cip-writer"
    /// The data protection officer's office: a care recipient's subject access export (GDPR art. 15).
    case privacyOfficer = "privacy-officer"
}

/// An authenticated API client: its roles, the tenants whose devices it sees, and the highest classification it
/// may read.
public struct ClientIdentity: Sendable, Equatable {
    public var name: String
    public var roles: Set<Role>
    /// nil: every tenant.
    public var tenants: Set<String>?
    public var clearance: Int

    public init(name: String, roles: Set<Role>, tenants: Set<String>?, clearance: Int) {
        self.name = name
        self.roles = roles
        self.tenants = tenants
        self.clearance = clearance
    }

    public func sees(tenant: String?) -> Bool {
        guard let tenants else { return true }
        guard let tenant else { return false }
        return tenants.contains(tenant)
    }
}

/// Which roles each route needs: one table, one place, keyed by the route the router matched (its template, as
/// Hummingbird spells it: `GET /iot/v1/devices/{deviceId}`), never by the raw path: the router ignores empty
/// segments (`//iot/v1/devices` routes like `/iot/v1/devices`), so a decision taken on the raw string can differ
/// from the handler that runs. A route missing from the table is refused (deny by default).
public enum AccessPolicy {
    public enum Requirement: Sendable, Equatable {
        /// No token needed (health, the OpenAPI document, the console's static files).
        case open
        /// Any valid token, or a request from the loopback interface (metrics).
        case tokenOrLoopback
        /// A valid token with one of these roles.
        case anyOf(Set<Role>)
    }

    /// The requirement of a matched route; nil when the route has no entry, which the caller must refuse.
    public static func requirement(method: String, route: String) -> Requirement? {
        table["\(method) \(route)"]
    }

    /// The alarm stream is the one route that also takes its token from the query (EventSource sends no headers).
    public static let queryTokenRoute = "GET /integration/v1/alarms/stream"

    private static let deviceAdmin = Requirement.anyOf([.deviceAdmin])
    private static let openReaders = Requirement.anyOf([.openData, .cipWriter])
    private static let cipWriter = Requirement.anyOf([.cipWriter])
    private static let readers = Requirement.anyOf([.integrator, .alarmOperator])
    private static let alarmOperator = Requirement.anyOf([.alarmOperator])
    private static let carePlanner = Requirement.anyOf([.carePlanner])
    /// The alarm team reads grants too: whom a responder may be let in by.
    private static let grantReaders = Requirement.anyOf([.carePlanner, .alarmOperator])
    /// Remote commands: the staff's app, and the alarm team letting a responder in.
    private static let lockCommanders = Requirement.anyOf([.lockOperator, .alarmOperator])
    /// Safe zones of GPS alarms: set by care planners and the alarm team; read by them too.
    private static let zoneKeepers = Requirement.anyOf([.carePlanner, .alarmOperator])
    /// Where a GPS alarm has been: the alarm team and integrations.
    private static let trackReaders = Requirement.anyOf([.alarmOperator, .integrator])
    /// A lock's whole story (grants, commands, refusals, its own events) and the visits report.
    private static let lockLogReaders = Requirement.anyOf([.carePlanner, .alarmOperator, .auditor])

    /// Every route of the router, `METHOD template`. A test fails when the router has a route this table lacks.
    public static let table: [String: Requirement] = [
        "GET /healthz": .open,
        "GET /readyz": .open,
        "HEAD /healthz": .open,
        "HEAD /readyz": .open,
        "GET /openapi.json": .open,
        "GET /console": .open,
        "GET /console/{file}": .open,
        "GET /metrics": .tokenOrLoopback,

        // IoT tier: device administration.
        "GET /iot/v1/devices": deviceAdmin,
        "POST /iot/v1/devices": deviceAdmin,
        "POST /iot/v1/devices/import": deviceAdmin,
        "GET /iot/v1/devices/{deviceId}": deviceAdmin,
        "PATCH /iot/v1/devices/{deviceId}": deviceAdmin,
        "GET /iot/v1/devices/{deviceId}/history": deviceAdmin,
        "GET /iot/v1/devices/{deviceId}/messages": deviceAdmin,
        "POST /iot/v1/devices/{deviceId}/suspend": deviceAdmin,
        "POST /iot/v1/devices/{deviceId}/resume": deviceAdmin,
        "POST /iot/v1/devices/{deviceId}/decommission": deviceAdmin,
        "GET /iot/v1/dead-letters": deviceAdmin,
        "GET /iot/v1/fleet": deviceAdmin,
        "GET /iot/v1/unknown-devices": deviceAdmin,

        // Integration tier: reads for integrators and the alarm team; alarm changes for the alarm team only.
        "GET /integration/v1/devices/{deviceId}/observations": readers,
        "GET /integration/v1/devices/{deviceId}/latest": readers,
        "GET /integration/v1/models": readers,
        "GET /integration/v1/models/device-types/{typeId}": readers,
        "GET /integration/v1/models/quantities/{quantityId}": readers,
        "GET /integration/v1/alarms": readers,
        "GET /integration/v1/alarms/stream": readers,
        "GET /integration/v1/alarms/stats": readers,
        "GET /integration/v1/alarms/{alarmId}": readers,
        "POST /integration/v1/alarms/{alarmId}/acknowledge": alarmOperator,
        "POST /integration/v1/alarms/{alarmId}/resolve": alarmOperator,
        "POST /integration/v1/alarms/{alarmId}/responder": alarmOperator,
        "GET /integration/v1/audit": .anyOf([.auditor]),
        "GET /integration/v1/subjects/{careRecipientRef}": .anyOf([.privacyOfficer]),

        // Digital locks: grants from the care plan; the unlock decision.
        "POST /integration/v1/locks/{deviceId}/grants": carePlanner,
        "GET /integration/v1/locks/{deviceId}/grants": grantReaders,
        "DELETE /integration/v1/locks/{deviceId}/grants/{grantId}": carePlanner,
        "GET /integration/v1/locks/{deviceId}/access": grantReaders,
        "POST /integration/v1/visit-plans": carePlanner,
        "POST /integration/v1/locks/{deviceId}/unlock": lockCommanders,
        "POST /integration/v1/locks/{deviceId}/lock": lockCommanders,
        "GET /integration/v1/commands/{commandId}": lockCommanders,
        "GET /integration/v1/locks/{deviceId}/access-log": lockLogReaders,
        "GET /integration/v1/visits": lockLogReaders,

        // GPS alarms: safe zones and the track.
        "POST /integration/v1/devices/{deviceId}/zones": zoneKeepers,
        "GET /integration/v1/devices/{deviceId}/zones": zoneKeepers,
        "PATCH /integration/v1/devices/{deviceId}/zones/{zoneId}": zoneKeepers,
        "DELETE /integration/v1/devices/{deviceId}/zones/{zoneId}": zoneKeepers,
        "GET /integration/v1/devices/{deviceId}/track": trackReaders,

        // The CIP tier: open data, read by open-data clients and by writers (what they wrote, and the rest of it).
        "GET /ngsi-ld/v1/entities": openReaders,
        "GET /ngsi-ld/v1/entities/{entityId}": openReaders,
        "GET /ngsi-ld/v1/types": openReaders,
        "GET /ngsi-ld/v1/types/{type}": openReaders,
        "GET /ngsi-ld/v1/attributes": openReaders,
        "GET /ngsi-ld/v1/attributes/{attrId}": openReaders,
        "GET /ngsi-ld/v1/temporal/entities": openReaders,
        "GET /ngsi-ld/v1/temporal/entities/{entityId}": openReaders,
        // The JSON-LD contexts are public documents: JSON-LD processors fetch them without a token.
        "GET /ngsi-ld/v1/jsonldContexts": .open,
        "GET /ngsi-ld/v1/jsonldContexts/{contextId}": .open,
        // Subscriptions: each client its own (reading open data by notification).
        "POST /ngsi-ld/v1/subscriptions": openReaders,
        "GET /ngsi-ld/v1/subscriptions": openReaders,
        "GET /ngsi-ld/v1/subscriptions/{subscriptionId}": openReaders,
        "PATCH /ngsi-ld/v1/subscriptions/{subscriptionId}": openReaders,
        "DELETE /ngsi-ld/v1/subscriptions/{subscriptionId}": openReaders,
        // Writes of other city systems.
        "POST /ngsi-ld/v1/entities": cipWriter,
        "DELETE /ngsi-ld/v1/entities/{entityId}": cipWriter,
        "PATCH /ngsi-ld/v1/entities/{entityId}": cipWriter,
        "PATCH /ngsi-ld/v1/entities/{entityId}/attrs": cipWriter,
        "POST /ngsi-ld/v1/entities/{entityId}/attrs": cipWriter,
        "POST /ngsi-ld/v1/entityOperations/create": cipWriter,
        "POST /ngsi-ld/v1/entityOperations/upsert": cipWriter,
        "POST /ngsi-ld/v1/entityOperations/update": cipWriter,
        "POST /ngsi-ld/v1/entityOperations/delete": cipWriter,
    ]
}
