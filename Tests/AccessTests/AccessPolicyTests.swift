import Testing

@testable import Access

@Suite struct AccessPolicyTests {
    @Test(arguments: [
        ("GET", "/healthz", AccessPolicy.Requirement.open),
        ("GET", "/readyz", .open),
        ("GET", "/openapi.json", .open),
        ("GET", "/console", .open),
        ("GET", "/console/{file}", .open),
        ("GET", "/metrics", .tokenOrLoopback),
        ("GET", "/iot/v1/devices", .anyOf([.deviceAdmin])),
        ("POST", "/iot/v1/devices/{deviceId}/suspend", .anyOf([.deviceAdmin])),
        ("GET", "/integration/v1/alarms", .anyOf([.alarmOperator, .integrator])),
        ("GET", "/integration/v1/alarms/stream", .anyOf([.alarmOperator, .integrator])),
        ("POST", "/integration/v1/alarms/{alarmId}/acknowledge", .anyOf([.alarmOperator])),
        // An alarm visit: only the alarm team sends a responder (integrators read alarms, never change them).
        ("POST", "/integration/v1/alarms/{alarmId}/responder", .anyOf([.alarmOperator])),
        ("GET", "/integration/v1/devices/{deviceId}/observations", .anyOf([.integrator, .alarmOperator])),
        ("GET", "/integration/v1/audit", .anyOf([.auditor])),
        ("GET", "/ngsi-ld/v1/entities", .anyOf([.openData, .cipWriter])),
        // Writes of the CIP tier: writers only, never open-data readers.
        ("POST", "/ngsi-ld/v1/entities", .anyOf([.cipWriter])),
        ("POST", "/ngsi-ld/v1/entityOperations/upsert", .anyOf([.cipWriter])),
        ("POST", "/ngsi-ld/v1/subscriptions", .anyOf([.openData, .cipWriter])),
    ])
    func everyRouteHasItsRoles(method: String, route: String, expected: AccessPolicy.Requirement) {
        #expect(AccessPolicy.requirement(method: method, route: route) == expected)
    }

    /// The table is keyed by matched templates only: raw paths, prefixes, other methods and unknown routes have
    /// no entry, and the middleware refuses what has none.
    @Test(arguments: [
        ("GET", "/iot/v1/devices/sensor-004"), ("GET", "//iot/v1/devices"), ("GET", "/iot/v1/devices/"),
        ("GET", "/iot/v1"), ("GET", "/integration/v1/audit/x"), ("DELETE", "/iot/v1/devices/{deviceId}"),
        ("POST", "/integration/v1/audit"), ("GET", "/elsewhere"), ("HEAD", "/metrics"), ("get", "/healthz"),
    ])
    func anythingButAMappedRouteHasNoEntry(method: String, route: String) {
        #expect(AccessPolicy.requirement(method: method, route: route) == nil)
    }

    @Test func everyEntryIsAWellFormedRouteAndNoneIsOpenByAccident() {
        let open = AccessPolicy.table.filter { $0.value == .open }.keys.sorted()
        // The JSON-LD contexts are public documents (JSON-LD processors fetch them without a token).
        #expect(open == ["GET /console", "GET /console/{file}", "GET /healthz", "GET /ngsi-ld/v1/jsonldContexts",
                         "GET /ngsi-ld/v1/jsonldContexts/{contextId}", "GET /openapi.json", "GET /readyz", "HEAD /healthz", "HEAD /readyz"])
        for key in AccessPolicy.table.keys {
            let parts = key.split(separator: " ")
            #expect(parts.count == 2 && ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"].contains(parts[0]), "\(key)")
            #expect(parts.last?.hasPrefix("/") == true && !key.contains("//") && !key.hasSuffix("/") && !key.contains(":"), "\(key)")
        }
        #expect(AccessPolicy.table[AccessPolicy.queryTokenRoute] != nil)
    }

    @Test func tenantsScopeWhatAClientSees() {
        let scoped = ClientIdentity(name: "a", roles: [.integrator], tenants: ["elderly-care"], clearance: 2)
        #expect(scoped.sees(tenant: "elderly-care"))
        #expect(!scoped.sees(tenant: "schools"))
        #expect(!scoped.sees(tenant: nil))
        let everything = ClientIdentity(name: "b", roles: [.auditor], tenants: nil, clearance: 3)
        #expect(everything.sees(tenant: "schools"))
    }

    @Test func clientsAreValidatedAndTokensAreOpaqueAndHashed() throws {
        #expect(throws: ClientError.self) { try ClientStore.validate(name: "bad name", roles: [.integrator], tenants: nil, clearance: 1) }
        #expect(throws: ClientError.self) { try ClientStore.validate(name: "ok", roles: [], tenants: nil, clearance: 1) }
        #expect(throws: ClientError.self) { try ClientStore.validate(name: "ok", roles: [.integrator], tenants: [], clearance: 1) }
        #expect(throws: ClientError.self) { try ClientStore.validate(name: "ok", roles: [.integrator], tenants: nil, clearance: 4) }
        try ClientStore.validate(name: "night-team", roles: [.alarmOperator], tenants: ["elderly-care"], clearance: 3)
        let token = ClientToken.generate()
        #expect(token.hasPrefix("cip_") && token.count == 47)
        #expect(ClientToken.generate() != token)
        #expect(ClientToken.hash(token).count == 32)
        #expect(ClientToken.hash(token) == ClientToken.hash(token))
    }
}
