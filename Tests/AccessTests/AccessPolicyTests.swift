import Testing

@testable import Access

@Suite struct AccessPolicyTests {
    @Test(arguments: [
        ("GET", "/healthz", AccessPolicy.Requirement.open),
        ("GET", "/readyz", .open),
        ("GET", "/openapi.json", .open),
        ("GET", "/console", .open),
        ("GET", "/console/console.js", .open),
        ("GET", "/metrics", .tokenOrLoopback),
        ("GET", "/iot/v1/devices", .anyOf([.deviceAdmin])),
        ("POST", "/iot/v1/devices/d1/suspend", .anyOf([.deviceAdmin])),
        ("GET", "/integration/v1/alarms", .anyOf([.alarmOperator, .integrator])),
        ("GET", "/integration/v1/alarms/stream", .anyOf([.alarmOperator, .integrator])),
        ("POST", "/integration/v1/alarms/7/acknowledge", .anyOf([.alarmOperator])),
        ("GET", "/integration/v1/devices/d1/observations?limit=5", .anyOf([.integrator, .alarmOperator])),
        ("GET", "/integration/v1/audit", .anyOf([.auditor])),
        ("GET", "/ngsi-ld/v1/entities", .anyOf([.openData])),
        ("GET", "/elsewhere", .anyOf(Set(Role.allCases))),
    ])
    func everyRouteHasItsRoles(method: String, path: String, expected: AccessPolicy.Requirement) {
        #expect(AccessPolicy.requirement(method: method, path: path) == expected)
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
