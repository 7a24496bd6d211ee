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

/// Which roles each route needs: one table, one place. Pure: method and path in, decision out.
public enum AccessPolicy {
    public enum Requirement: Sendable, Equatable {
        /// No token needed (health, the OpenAPI document, the console's static files).
        case open
        /// Any valid token, or a request from the loopback interface (metrics).
        case tokenOrLoopback
        /// A valid token with one of these roles.
        case anyOf(Set<Role>)
    }

    public static func requirement(method: String, path: String) -> Requirement {
        let path = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        switch path {
        case "/healthz", "/readyz", "/openapi.json": return .open
        case "/metrics": return .tokenOrLoopback
        default: break
        }
        if path == "/console" || path.hasPrefix("/console/") { return .open }
        if path.hasPrefix("/iot/") { return .anyOf([.deviceAdmin]) }
        if path.hasPrefix("/integration/v1/audit") { return .anyOf([.auditor]) }
        if path.hasPrefix("/integration/v1/alarms") {
            return method == "GET" ? .anyOf([.alarmOperator, .integrator]) : .anyOf([.alarmOperator])
        }
        if path.hasPrefix("/integration/") {
            return method == "GET" ? .anyOf([.integrator, .alarmOperator]) : .anyOf([.integrator])
        }
        if path.hasPrefix("/ngsi-ld/") { return .anyOf([.openData]) }
        // Anything else (unknown paths answer 404 after this): a valid token of any role.
        return .anyOf(Set(Role.allCases))
    }
}
