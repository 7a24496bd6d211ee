import Access
import Hummingbird
import Models
import Telemetry
import Testing

/// `GET /integration/v1/audit`: the trail for auditors, newest first, filtered, paged, within clearance and tenants;
/// and the reads the middleware notes land in it.
@Suite struct AuditRoutesTests {
    static let base: Int64 = 1_760_000_000_000_000

    static func record(_ client: String, _ subjects: [String], dataClass: Int, at seconds: Int64) -> AuditRecord {
        AuditRecord(atMicros: base + seconds * 1_000_000, client: client, roles: "integrator", method: "GET",
                    endpoint: "/integration/v1/devices/{deviceId}/latest", path: "/integration/v1/devices/x/latest",
                    subjects: subjects, records: 1, dataClass: dataClass, status: 200)
    }

    /// lock-n (north, care recipient cr-n), lock-s (south); five entries, one a second (ids 1...5).
    static func seed(_ harness: Harness) async throws {
        try await harness.register("lock-n", tenant: "north", careRecipientRef: "cr-n")
        try await harness.register("lock-s", tenant: "south")
        try await harness.auditLog.write([
            record("reader", ["lock-n"], dataClass: 2, at: 0),
            record("reader", ["lock-s"], dataClass: 3, at: 1),
            record("app-2", ["lock-n", "lock-s"], dataClass: 2, at: 2),
            record("admin", [], dataClass: 2, at: 3),
            record("planner-north", ["cr-n"], dataClass: 3, at: 4),
        ])
    }

    static func ids(_ reply: Reply) -> [Int] { reply.items.compactMap { $0["id"] as? Int } }

    @Test("newest first; by client, subject and time; paged with a cursor; a bad period is refused")
    func filtersAndPages() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            // Each read of the trail is itself audited (stored before it is answered): the seeded lines end before.
            let seeded = "to=\(RFC3339.format(micros: Self.base + 10_000_000))"
            let all = try await client.call(.get, "/integration/v1/audit?\(seeded)", token: "auditor")
            #expect(all.status == .ok, "\(all.text)")
            #expect(Self.ids(all) == [5, 4, 3, 2, 1])
            #expect(all.items.last?["at"] as? String == RFC3339.format(micros: Self.base))
            #expect(all.items.last?["subjects"] as? [String] == ["lock-n"])

            let byClient = try await client.call(.get, "/integration/v1/audit?client=reader", token: "auditor")
            #expect(Self.ids(byClient) == [2, 1])
            let bySubject = try await client.call(.get, "/integration/v1/audit?subject=lock-s&\(seeded)", token: "auditor")
            #expect(Self.ids(bySubject) == [3, 2])
            let from = RFC3339.format(micros: Self.base + 1_000_000), to = RFC3339.format(micros: Self.base + 3_000_000)
            let byTime = try await client.call(.get, "/integration/v1/audit?from=\(from)&to=\(to)", token: "auditor")
            #expect(Self.ids(byTime) == [3, 2])
            let backwards = try await client.call(.get, "/integration/v1/audit?from=\(to)&to=\(from)", token: "auditor")
            #expect(backwards.status == .badRequest)

            let first = try await client.call(.get, "/integration/v1/audit?limit=2&\(seeded)", token: "auditor")
            #expect(Self.ids(first) == [5, 4])
            let cursor = try #require(first.json["nextCursor"] as? String)
            let second = try await client.call(.get, "/integration/v1/audit?limit=2&cursor=\(cursor)&\(seeded)", token: "auditor")
            #expect(Self.ids(second) == [3, 2])
            let own = try await client.call(.get, "/integration/v1/audit?client=auditor", token: "auditor")
            #expect(own.items.count == 6, "the six reads of the trail above that answered (the refused period did not): \(own.text)")
        }
    }

    @Test("an auditor sees its clearance and, with tenants, only entries whose every subject is theirs; others are refused")
    func scope() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let cleared2 = try await client.call(.get, "/integration/v1/audit", token: "auditor-2")
            #expect(Self.ids(cleared2) == [4, 3, 1])
            let north = try await client.call(.get, "/integration/v1/audit", token: "auditor-north")
            #expect(Self.ids(north) == [5, 1], "a care recipient of a north lock counts; mixed and subjectless entries need every tenant")
            let reader = try await client.call(.get, "/integration/v1/audit", token: "reader")
            #expect(reader.status == .forbidden)
        }
    }

    @Test("a class 3 read the middleware notes is in the trail once it is written")
    func readsAreAudited() async throws {
        let harness = Harness()
        try await harness.register("lock-n", tenant: "north")
        harness.telemetry.store([Observation(deviceID: "lock-n", quantity: "position", value: .string("57.7,11.9"), sum: nil,
                                             unit: nil, observedAtMicros: Self.base, receivedAtMicros: Self.base,
                                             messageKey: [1], recordIndex: 0, confidentiality: 3)])
        try await harness.test { client in
            let read = try await client.call(.get, "/integration/v1/devices/lock-n/latest", token: "reader")
            #expect(read.status == .ok, "\(read.text)")
            await harness.auditTrail.flush()
            let trail = try await client.call(.get, "/integration/v1/audit?client=reader", token: "auditor")
            #expect(trail.items.count == 1, "\(trail.text)")
            #expect(trail.items.first?["endpoint"] as? String == "/integration/v1/devices/{deviceId}/latest")
            #expect(trail.items.first?["subjects"] as? [String] == ["lock-n"])
        }
    }
}
