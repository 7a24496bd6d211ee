import Hummingbird
import Locks
import Models
import Registry
import Testing

/// `GET /iot/v1/fleet`: the locks that have not confirmed their newest grant list in time, within the client's tenants.
@Suite struct FleetRoutesTests {
    @Test("stale grant lists: unconfirmed past the grace period, active locks only, oldest first, scoped to tenants")
    func staleGrantLists() async throws {
        let harness = Harness()
        for (id, tenant) in [("lock-n1", "north"), ("lock-n2", "north"), ("lock-n3", "north"), ("lock-off", "north"),
                             ("lock-s1", "south")] {
            try await harness.register(id, tenant: tenant)
            _ = try await harness.devices.apply(.provision, to: id, actor: "t", client: nil, reason: nil)
            _ = try await harness.devices.apply(.activate, to: id, actor: "t", client: nil, reason: nil)
        }
        _ = try await harness.devices.apply(.suspend, to: "lock-off", actor: "t", client: nil, reason: nil)
        let lists = harness.grantLists
        func publish(_ id: String, at micros: Int64) async throws {
            let version = try await lists.reserveVersion(id)
            try await lists.recordPublished(GrantListState(deviceId: id, version: version, contentHash: [1], grantCount: 2,
                                                           publishedAtMicros: micros))
        }
        let hourAgo = systemMicros() - 3_600_000_000
        // lock-n1 holds version 1 but not version 2; lock-n2 holds its only version; lock-n3 was sent one just now.
        try await publish("lock-n1", at: hourAgo - 60_000_000)
        lists.held(deviceId: "lock-n1", version: 1, atMicros: hourAgo - 30_000_000)
        try await publish("lock-n1", at: hourAgo - 1_000_000)
        try await publish("lock-n2", at: hourAgo)
        lists.held(deviceId: "lock-n2", version: 1, atMicros: hourAgo + 1_000_000)
        try await publish("lock-n3", at: systemMicros())
        try await publish("lock-off", at: hourAgo)
        try await publish("lock-s1", at: hourAgo)
        #expect(!lists.held(deviceId: "lock-s1", version: 2, atMicros: hourAgo), "a version never published is not held")

        try await harness.test { client in
            let all = try await client.call(.get, "/iot/v1/fleet", token: "admin")
            #expect(all.status == .ok, "\(all.text)")
            let stale = all.json["staleGrantLists"] as? [[String: Any]] ?? []
            #expect(all.strings("deviceId", in: stale) == ["lock-n1", "lock-s1"])
            let first = stale.first ?? [:]
            #expect(first["version"] as? Int == 2)
            #expect(first["heldVersion"] as? Int == 1)
            #expect(first["heldAt"] as? String == RFC3339.format(micros: hourAgo - 30_000_000))
            #expect(first["publishedAt"] as? String == RFC3339.format(micros: hourAgo - 1_000_000))
            #expect(first["grants"] as? Int == 2)
            #expect(stale.last?["heldVersion"] == nil)

            let north = try await client.call(.get, "/iot/v1/fleet", token: "admin-north")
            #expect(north.strings("deviceId", in: north.json["staleGrantLists"] as? [[String: Any]] ?? []) == ["lock-n1"])
        }
    }
}
