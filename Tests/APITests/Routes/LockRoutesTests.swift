import Access
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

    static let visit = #"{"staffRef":"staff-7","validFrom":"2027-01-12T08:00:00Z","validTo":"2027-01-12T08:30:00Z","visitRef":"v-1"}"#

    @Test("a care planner grants, lists and revokes; the decision follows the grant to its edges")
    func grantLifecycle() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let created = try await client.call(.post, "/integration/v1/locks/lock-n/grants", token: "planner-north", body: Self.visit)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["grantedBy"] as? String == "planner-north")
            #expect(created.json["source"] as? String == "manual")
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
            // Revoked now, before its window: it allows nothing, and says so (GrantScheduleTests pin that a revoked
            // grant still answers for the time before its revocation).
            #expect(try await decide("2027-01-12T08:10:00Z").json["refusal"] as? String == "revoked")
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/grants", token: "planner-north").items.isEmpty)
            #expect(try await client.call(.delete, "/integration/v1/locks/lock-n/grants/999", token: "planner-north").status == .notFound)
            #expect(try await client.call(.delete, "/integration/v1/locks/lock-s/grants/\(id)", token: "admin").status == .forbidden)
            #expect(try await client.call(.delete, "/integration/v1/locks/lock-n/grants/\(id)", token: "operator-north").status == .forbidden,
                    "the alarm team reads grants but does not revoke them")
        }
    }

    @Test("weekly windows in local time: a night grant allows at 23:00 Stockholm time and refuses at 07:00")
    func weeklyGrant() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let night = #"{"staffRef":"night-1","weekly":{"days":["sat"],"start":"22:00","end":"07:00"},"validTo":"2027-06-30T00:00:00Z"}"#
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
        (#"{"staffRef":"s-1","weekly":{"days":["funday"],"start":"08:00","end":"09:00"},"validTo":"2027-01-12T08:30:00Z"}"#, "weekly.days"),
        (#"{"staffRef":"s-1","weekly":{"days":[],"start":"08:00","end":"09:00"},"validTo":"2027-01-12T08:30:00Z"}"#, "weekly.days"),
        (#"{"staffRef":"s-1","weekly":{"days":["mon"],"start":"24:00","end":"09:00"},"validTo":"2027-01-12T08:30:00Z"}"#, "weekly"),
        (#"{"staffRef":"s-1","weekly":{"days":["mon"],"start":"+1:00","end":"09:00"},"validTo":"2027-01-12T08:30:00Z"}"#, "weekly"),
        (#"{"staffRef":"s-1","weekly":{"days":["mon"],"start":"08:00","end":"08:00"},"validTo":"2027-01-12T08:30:00Z"}"#, "weekly"),
        (#"{"staffRef":"s-1","weekly":{"days":["mon"],"start":"00:01","end":"00:00"}}"#, "validTo"),
        (#"{"staffRef":"s-1","validTo":"9999-12-31T23:59:59Z"}"#, "validTo"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","source":"alarm"}"#, "source"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","source":"visit-plan"}"#, "source"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","visitRef":"a/b"}"#, "visitRef"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","visitRef":"191212121212"}"#, "visitRef"),
        (#"{"staffRef":"121212_1212","validTo":"2027-01-12T08:30:00Z"}"#, "staffRef"),
        (#"{"staffRef":"s-1","validTo":"2027-01-12T08:30:00Z","reason":"Anna Svensson 19121212-1212"}"#, "reason"),
    ])
    func badBodies(body: String, field: String) async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/locks/lock-n/grants", token: "planner-north", body: body)
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply.json["parameter"] as? String == field, "\(reply.text)")
        }
        #expect(try await harness.grants.grants(deviceId: "lock-n", includeEnded: true, nowMicros: 0, beforeId: nil, limit: 1_000).isEmpty)
    }
}

/// `POST /integration/v1/visit-plans`: a period's visits become grants on the care recipients' locks.
@Suite struct VisitPlanRoutesTests {
    static func seed(_ harness: Harness) async throws {
        try await LockRoutesTests.seed(harness)
        _ = try await harness.devices.update("lock-n", with: DevicePatch(careRecipientRef: "cr-north"), actor: "t", client: nil)
        _ = try await harness.devices.update("lock-s", with: DevicePatch(careRecipientRef: "cr-south"), actor: "t", client: nil)
    }

    static let period = "from=2027-01-11T00:00:00%2B01:00&to=2027-01-18T00:00:00%2B01:00"

    @Test("a CSV plan becomes grants; a re-import changes nothing; a changed plan revokes what it dropped")
    func importAndReimport() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let csv = """
                visit_ref,care_recipient_ref,staff_ref,planned_start,planned_end,margin_minutes
                v-1,cr-north,staff-1,2027-01-12T08:00:00+01:00,2027-01-12T08:30:00+01:00,10
                v-2,cr-north,staff-2,2027-01-12T12:00:00+01:00,2027-01-12T12:20:00+01:00,
                v-3,cr-south,staff-3,2027-01-12T09:00:00+01:00,2027-01-12T09:20:00+01:00,
                v-4,cr-nobody,staff-3,2027-01-12T09:00:00+01:00,2027-01-12T09:20:00+01:00,
                v-5,cr-north,19121212-1212,2027-01-12T09:00:00+01:00,2027-01-12T09:20:00+01:00,
                v-1,cr-north,staff-9,2027-01-13T08:00:00+01:00,2027-01-13T08:30:00+01:00,
                v-6,cr-north,staff-1,2027-01-20T08:00:00+01:00,2027-01-20T08:30:00+01:00,
                """
            let first = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                              body: csv, contentType: "text/csv")
            #expect(first.status == .ok, "\(first.text)")
            #expect(first.json["created"] as? Int == 2 && first.json["applied"] as? Bool == true, "\(first.text)")
            let rejected = first.json["rejected"] as? [[String: Any]] ?? []
            #expect(rejected.compactMap { $0["line"] as? Int } == [4, 5, 6, 7, 8], "\(first.text)")
            #expect((rejected.first?["reason"] as? String)?.contains("no lock in this client's tenants") == true,
                    "another tenant's care recipient is unknown here")
            #expect(rejected.contains { ($0["reason"] as? String)?.contains("personal identity number") == true })
            #expect(rejected.contains { ($0["reason"] as? String)?.contains("appears twice") == true })
            #expect(rejected.contains { ($0["reason"] as? String)?.contains("outside the import's period") == true })

            // The grant is the visit widened by its margin (10 minutes; 15 by default).
            func decide(_ staff: String, _ at: String) async throws -> Reply {
                try await client.call(.get, "/integration/v1/locks/lock-n/access?staffRef=\(staff)&at=\(at)", token: "planner-north")
            }
            #expect(try await decide("staff-1", "2027-01-12T06:50:00Z").json["allowed"] as? Bool == true)
            #expect(try await decide("staff-1", "2027-01-12T06:49:59Z").json["refusal"] as? String == "not-yet-valid")
            // v-2: 11:00–11:20Z planned, the default 15 minutes each side.
            #expect(try await decide("staff-2", "2027-01-12T10:45:00Z").json["allowed"] as? Bool == true)
            #expect(try await decide("staff-2", "2027-01-12T11:34:59Z").json["allowed"] as? Bool == true)
            #expect(try await decide("staff-2", "2027-01-12T11:35:00Z").json["refusal"] as? String == "expired")

            let again = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                              body: csv, contentType: "text/csv")
            #expect(again.json["created"] as? Int == 0 && again.json["unchanged"] as? Int == 2 && again.json["revoked"] as? Int == 0,
                    "\(again.text)")

            // The plan changes: v-2 dropped, v-1 moved an hour. JSON this time.
            let json = #"{"visits":[{"visitRef":"v-1","careRecipientRef":"cr-north","staffRef":"staff-1","plannedStart":"2027-01-12T09:00:00+01:00","plannedEnd":"2027-01-12T09:30:00+01:00","marginMinutes":10}]}"#
            let changed = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north", body: json)
            #expect(changed.json["created"] as? Int == 1 && changed.json["revoked"] as? Int == 2, "\(changed.text)")
            #expect(try await decide("staff-2", "2027-01-12T11:00:00Z").json["refusal"] as? String == "revoked")
            #expect(try await decide("staff-1", "2027-01-12T06:55:00Z").json["refusal"] as? String == "not-yet-valid")
            #expect(try await decide("staff-1", "2027-01-12T07:55:00Z").json["allowed"] as? Bool == true)
        }
    }

    @Test("atomic refuses the whole plan for one bad row; bad periods and bodies are 400; roles and clearance")
    func atomicAndBadInput() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let json = #"{"visits":[{"visitRef":"v-1","careRecipientRef":"cr-north","staffRef":"staff-1","plannedStart":"2027-01-12T09:00:00+01:00","plannedEnd":"2027-01-12T09:30:00+01:00"},{"visitRef":"v-2","careRecipientRef":"cr-north","staffRef":"staff-1","plannedStart":"2027-01-12T09:00:00+01:00","plannedEnd":"2027-01-12T08:30:00+01:00"}]}"#
            let atomic = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)&atomic=true", token: "planner-north", body: json)
            #expect(atomic.json["applied"] as? Bool == false && atomic.json["created"] as? Int == 0, "\(atomic.text)")
            #expect(try await harness.grants.grants(deviceId: "lock-n", includeEnded: true, nowMicros: 0, beforeId: nil, limit: 1_000).isEmpty)

            for (query, parameter) in [("from=2027-01-11T00:00:00Z", "to"), ("to=2027-01-11T00:00:00Z", "from"),
                                       ("from=2027-01-11T00:00:00Z&to=2027-03-11T00:00:00Z", "to"),
                                       ("from=2027-01-11T00:00:00Z&to=2027-01-10T00:00:00Z", "to")] {
                let reply = try await client.call(.post, "/integration/v1/visit-plans?\(query)", token: "planner-north", body: json)
                #expect(reply.status == .badRequest && reply.json["parameter"] as? String == parameter, "\(query): \(reply.text)")
            }
            #expect(try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north", body: "[1,2").status == .badRequest)
            #expect(try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                          body: "staff,when\nx,y", contentType: "text/csv").status == .badRequest)
            #expect(try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "operator-north", body: json).status == .forbidden)
            #expect(try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-2", body: json).status == .forbidden)
        }
    }

    @Test("a CRLF CSV with a byte-order mark reads like any other; a plan with nothing usable changes nothing unless clear=true")
    func crlfAndEmptyPlans() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let crlf = "\u{FEFF}visit_ref,care_recipient_ref,staff_ref,planned_start,planned_end,margin_minutes\r\n"
                + "v-1,cr-north,staff-1,2027-01-12T08:00:00+01:00,2027-01-12T08:30:00+01:00,10\r\n"
                + "v-2,cr-north,staff-2,2027-01-12T12:00:00+01:00,2027-01-12T12:20:00+01:00,\r\n"
            let first = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                              body: crlf, contentType: "text/csv")
            #expect(first.json["created"] as? Int == 2, "\(first.text)")
            // Every row unreadable (no offsets, as a careless export writes them): refused, nothing revoked.
            let careless = "visit_ref,care_recipient_ref,staff_ref,planned_start,planned_end\nv-1,cr-north,staff-1,2027-01-12 08:00,2027-01-12 08:30\n"
            let refused = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                                body: careless, contentType: "text/csv")
            #expect(refused.status == .badRequest && refused.text.contains("no usable visit"), "\(refused.text)")
            let empty = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                              body: #"{"visits":[]}"#)
            #expect(empty.status == .badRequest)
            #expect(try await harness.grants.grants(deviceId: "lock-n", includeEnded: false, nowMicros: 0, beforeId: nil, limit: 100).count == 2)
            // One good row, one unreadable: the unreadable visit keeps its grant; nothing is revoked.
            let mixed = "visit_ref,care_recipient_ref,staff_ref,planned_start,planned_end,margin_minutes\n"
                + "v-1,cr-north,staff-1,2027-01-12T08:00:00+01:00,2027-01-12T08:30:00+01:00,10\n"
                + "v-2,cr-north,staff-2,2027-01-12 12:00,2027-01-12T12:20:00+01:00,\n"
            let partial = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north",
                                                body: mixed, contentType: "text/csv")
            #expect(partial.json["revoked"] as? Int == 0 && partial.json["unchanged"] as? Int == 2, "\(partial.text)")
            // clear=true with an empty plan revokes the period's grants of this source.
            let cleared = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)&clear=true", token: "planner-north",
                                                body: #"{"visits":[]}"#)
            #expect(cleared.json["revoked"] as? Int == 2, "\(cleared.text)")
        }
    }

    @Test("an import replaces only its own source's grants, and does not undo a revocation made by hand")
    func sourcesAndHandRevocations() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        harness.clients.issue("planner-b", to: ClientIdentity(name: "planner-b", roles: [.carePlanner], tenants: ["north"], clearance: 3))
        try await harness.test { client in
            let plan = #"{"visits":[{"visitRef":"v-1","careRecipientRef":"cr-north","staffRef":"staff-1","plannedStart":"2027-01-12T09:00:00+01:00","plannedEnd":"2027-01-12T09:30:00+01:00"}]}"#
            #expect(try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north", body: plan).json["created"] as? Int == 1)
            // Another care provider's plan for the same week leaves the first provider's grants alone.
            let other = #"{"visits":[{"visitRef":"b-1","careRecipientRef":"cr-north","staffRef":"staff-9","plannedStart":"2027-01-13T09:00:00+01:00","plannedEnd":"2027-01-13T09:30:00+01:00"}]}"#
            let second = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-b", body: other)
            #expect(second.json["created"] as? Int == 1 && second.json["revoked"] as? Int == 0, "\(second.text)")
            // A supervisor revokes staff-1's visit by hand; the nightly re-import does not bring it back.
            let listed = try await client.call(.get, "/integration/v1/locks/lock-n/grants", token: "planner-north")
            let id = listed.items.first { $0["staffRef"] as? String == "staff-1" }?["id"] as? Int ?? 0
            #expect(try await client.call(.delete, "/integration/v1/locks/lock-n/grants/\(id)", token: "planner-b").status == .ok)
            let again = try await client.call(.post, "/integration/v1/visit-plans?\(Self.period)", token: "planner-north", body: plan)
            #expect(again.json["created"] as? Int == 0 && again.json["heldRevoked"] as? Int == 1, "\(again.text)")
        }
    }
}
