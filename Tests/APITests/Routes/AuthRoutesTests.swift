import Access
import Hummingbird
import Testing

/// `AccessMiddleware` over the in-memory token table: 401 without a valid token, 403 without the role.
@Suite struct AuthRoutesTests {
    @Test("no token, a malformed header or an unknown token is 401; health stays open")
    func unauthenticated() async throws {
        try await Harness().test { client async throws in
            let none = try await client.call(.get, "/iot/v1/devices", token: nil)
            #expect(none.status == .unauthorized)
            #expect(none.json["type"] as? String == "urn:cip:problem:unauthorized")
            #expect(try await client.call(.get, "/iot/v1/devices", token: "guess").status == .unauthorized)
            #expect(try await client.call(.get, "/integration/v1/devices/lock-1/latest", token: nil).status == .unauthorized)
            #expect(try await client.call(.get, "/healthz", token: nil).status == .ok)
        }
    }

    @Test("a valid token without the route's role is 403, naming the role; with it the route runs")
    func wrongRole() async throws {
        let harness = Harness()
        try await harness.register("lock-1")
        try await harness.test { client async throws in
            let integrator = try await client.call(.get, "/iot/v1/devices", token: "reader")
            #expect(integrator.status == .forbidden)
            #expect((integrator.json["detail"] as? String)?.contains("device-admin") == true)
            let admin = try await client.call(.post, "/integration/v1/alarms/1/acknowledge", token: "admin", body: #"{"operator": "op-1"}"#)
            #expect(admin.status == .forbidden)
            let reader = try await client.call(.post, "/integration/v1/alarms/1/acknowledge", token: "reader", body: #"{"operator": "op-1"}"#)
            #expect(reader.status == .forbidden)
            #expect(try await client.call(.get, "/iot/v1/devices", token: "admin").status == .ok)
        }
    }

    @Test("a revoked token stops working at once")
    func revoked() async throws {
        let harness = Harness()
        harness.clients.issue("temp", to: ClientIdentity(name: "temp", roles: [.deviceAdmin], tenants: nil, clearance: 1))
        try await harness.test { client async throws in
            #expect(try await client.call(.get, "/iot/v1/devices", token: "temp").status == .ok)
            harness.clients.revoke("temp")
            #expect(try await client.call(.get, "/iot/v1/devices", token: "temp").status == .unauthorized)
        }
    }
}
