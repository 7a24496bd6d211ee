import Hummingbird
import Locks
import Registry
import Testing

/// `/integration/v1/locks/{id}/grants|access`: roles, tenant, clearance, validation, and the decision.
@Suite struct LockRoutesTests {
    /// lock-n (north, active), lock-s (south, active), sensor-n (north, a sensor), lock-new (north, registered only).
    static func seed(_ harness: Harness) async throws {
        for (id, tenant, type) in [("lock-n", "north", "digital-lock"), ("lock-s", "south", "digital-lock"),
                                   ("sensor-n", "north", "sensor"), ("lock-new", "north", "digital-lock")] {
            try await harness.register(id, tenant: tenant, type: type)
        }
        for id in ["lock-n", "lock-s"] {
            _ = try await harness.devices.apply(.provision, to: id, actor: "t", client: nil, reason: nil)
            _ = try await harness.devices.apply(.activate, to: id, actor: "t", client: nil, reason: nil)
        }
    }

    static let visit = #"{"staffRef":"staff-7","validFrom":"2027-01-12T08:00:00Z","validTo":"2027-01-12T08:30:00Z","source":"visit-plan","visitRef":"v-1"}"#

    @Test("a care planner grants, lists and revokes; the decision follows the grant to its edges")
    func grantLifecycle() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let created = try await client.call(.post, "/integration/v1/locks/lock-n/grants", token: "planner-north", body: Self.visit)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["grantedBy"] as? String == "planner-north")
            #expect(created.json["source"] as? String == "visit-plan")
            let id = created.json["id"] as? Int ?? 0

            func decide(_ at: String, staff: String = "staff-7") async throws -> Reply {
                try await client.call(.get, "/integration/v1/locks/lock-n/access?staffRef=\(staff)&at=\(at)", token: "operator-north")
            }
            #expect(try await decide("2027-01-12T07:59:59Z").json["refusal"] as? String == "not-yet-valid")
            let inside = try await decide("2027-01-12T08:00:00Z")
            #expect(inside.json["allowed"] as? Bool == true && inside.json["grantId"] as? Int == id, "\(inside.text)")
            #expect(try await decide("2027-01-12T08:30:00Z").json["refusal"] as? String == "expired")
            #expect(try await decide("2027-01-12T08:10:00Z", staff: "staff-8").json["refusal"] as? String == "no-grant")

            let listed = try await client.call(.get, "/integration/v1/locks/lock-n/grants?includeEnded=true", token: "operator-north")
            #expect(listed.status == .ok && listed.items.count == 1)

            let revoked = try await client.call(.delete, "/integration/v1/locks/lock-n/grants/\(id)", token: "planner-north")
            #expect(revoked.status == .ok && revoked.json["revokedBy"] as? String == "planner-north", "\(revoked.text)")
            #expect(try await decide("2027-01-12T08:10:00Z").json["refusal"] as? String == "no-grant",
                    "a revoked grant allows nothing")
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/grants", token: "planner-north").items.isEmpty)
            #expect(try await client.call(.delete, "/integration/v1/locks/lock-n/grants/999", token: "planner-north").status == .notFound)
            #expect(try await client.call(.delete, "/integration/v1/locks/lock-s/grants/\(id)", token: "admin").status == .forbidden)
        }
    }

    @Test("weekly windows in local time: a night grant allows at 23:00 Stockholm time and refuses at 07:00")
    func weeklyGrant() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let night = #"{"staffRef":"night-1","weekly":{"days":["sat"],"start":"22:00","end":"07:00"}}"#
            let created = try await client.call(.post, "/integration/v1/locks/lock-n/grants", token: "planner-north", body: night)
            #expect(created.status == .created, "\(created.text)")
            let weekly = created.json["weekly"] as? [String: Any]
            #expect(weekly?["days"] as? [String] == ["sat"] && weekly?["start"] as? String == "22:00")
            #expect(weekly?["timeZone"] as? String == "Europe/Stockholm")
            // Saturday 2027-01-16 23:00 CET = 22:00Z; Sunday 07:00 CET = 06:00Z.
            let late = try await client.call(.get, "/integration/v1/locks/lock-n/access?staffRef=night-1&at=2027-01-16T22:00:00Z", token: "planner-north")
            #expect(late.json["allowed"] as? Bool == true)
            let morning = try await client.call(.get, "/integration/v1/locks/lock-n/access?staffRef=night-1&at=2027-01-17T06:00:00Z", token: "planner-north")
            #expect(morning.json["refusal"] as? String == "outside-window")
        }
    }

    @Test("who may: roles, tenants, clearance 3, locks only, not a lock out of service")
    func scope() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            // Reading grants is for planners and the alarm team; writing for planners only.
            #expect(try await client.call(.post, "/integration/v1/locks/lock-n/grants", token: "operator-north", body: Self.visit).status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/grants", token: "reader").status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/grants", token: nil).status == .unauthorized)
            // Another tenant's lock is unknown to this client; clearance 2 is not enough for grants.
            #expect(try await client.call(.post, "/integration/v1/locks/lock-s/grants", token: "planner-north", body: Self.visit).status == .notFound)
            let lowClearance = try await client.call(.get, "/integration/v1/locks/lock-n/grants", token: "planner-2")
            #expect(lowClearance.status == .forbidden && lowClearance.text.contains("class 3"))
            // A sensor is not a lock; a lock not yet active opens for nobody.
            #expect(try await client.call(.post, "/integration/v1/locks/sensor-n/grants", token: "planner-north", body: Self.visit).status == .conflict)
            _ = try await client.call(.post, "/integration/v1/locks/lock-new/grants", token: "planner-north", body: Self.visit)
            let notActive = try await client.call(.get, "/integration/v1/locks/lock-new/access?staffRef=staff-7&at=2027-01-12T08:10:00Z",
                                                  token: "planner-north")
            #expect(notActive.json["allowed"] as? Bool == false && notActive.json["refusal"] as? String == "lock-not-in-service")
        }
    }

    @Test("careless and hostile bodies are 400 naming the field, and write nothing", arguments: [
        (#"{"staffRef":"19121212-1212","validTo":"2027-01-12T08:30:00Z"}"#, "staffRef"),
        (#"{"staffRef":"anna andersson","validTo":"2027-01-12T08:30:00Z"}"#, "staffRef"),
        (#"{"staffRef":"s-1"}"#, "validTo"),
        (#"{"staffRef":"s-1","validFrom":"2027-01-12T09:00:00Z","validTo":"2027-01-12T08:00:00Z"}"#, "validTo"),
        (#"{"staffRef":"s-1","validTo":"2027-02-30T08:00:00Z"}"#, "validTo"),
        (#"{"staffRef":"s-1","weekly":{"days":["funday"],"start":"08:00","end":"09:00"}}"#, "weekly.days"),
        (#"{"staffRef":"s-1","weekly":{"days":[],"start":"08:00","end":"09:00"}}"#, "weekly.days"),
        (#"{"staffRef":"s-1","weekly":{"days":["mon"],"start":"24:00","end":"09:00"}}"#, "weekly"),
        (#"{"staffRef":"s-1","weekly":{"days":["mon"],"start":"08:00","end":"08:00"}}"#, "weekly"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","source":"alarm"}"#, "source"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","visitRef":"a/b"}"#, "visitRef"),
    ])
    func badBodies(body: String, field: String) async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/locks/lock-n/grants", token: "planner-north", body: body)
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply.json["parameter"] as? String == field, "\(reply.text)")
        }
        #expect(try await harness.grants.grants(deviceId: "lock-n", includeEnded: true, nowMicros: 0).isEmpty)
    }
}
