import Foundation
import Testing

extension IntegrationTests {
    /// Lock access grants on a real gateway process and database: created, stored, read back and decided exactly at
    /// their edges, across both daylight-saving nights; revoked at once; scoped by role, tenant and clearance; audited.
    @Suite(.serialized) struct LockGrants {
        static func json(_ text: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }

        @Test("grants decide at their edges across DST on the real stack; revocation, scope and audit")
        func grantsOnTheRealStack() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["lock-1", "lock-2"], type: "digital-lock")
            try database.register(["sensor-1"], type: "sensor")
            try database.connect().execute("UPDATE devices SET tenant = 'other' WHERE device_id = 'lock-2'")
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let planner = try gateway.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            let nightTeam = try gateway.createClient(name: "night-team", roles: "alarm-operator", tenants: "test", clearance: 3)
            let integrator = try gateway.createClient(name: "integration", roles: "integrator", clearance: 3)

            // A weekly night (Saturday 22:00 – Sunday 07:00 Stockholm time) and one planned visit.
            let night = try gateway.httpSend("POST", "/integration/v1/locks/lock-1/grants", json: """
                {"staffRef":"night-1","weekly":{"days":["sat"],"start":"22:00","end":"07:00"},"validFrom":"2027-01-01T00:00:00Z","validTo":"2027-12-31T00:00:00Z","reason":"night patrol"}
                """, token: planner)
            #expect(night.status == 201, "\(night.body)")
            let visit = try gateway.httpSend("POST", "/integration/v1/locks/lock-1/grants", json: """
                {"staffRef":"staff-7","validFrom":"2027-03-28T06:00:00+02:00","validTo":"2027-03-28T06:30:00+02:00","visitRef":"v-42"}
                """, token: planner)
            #expect(visit.status == 201, "\(visit.body)")
            let visitGrant = Self.json(visit.body)
            #expect(visitGrant["validFrom"] as? String == "2027-03-28T04:00:00.000000Z", "stored and returned in UTC")
            let visitId = visitGrant["id"] as? Int ?? 0

            func decision(_ staff: String, _ at: String) throws -> [String: Any] {
                let reply = try gateway.httpGet("/integration/v1/locks/lock-1/access?staffRef=\(staff)&at=\(at)", token: nightTeam)
                #expect(reply.status == 200, "\(reply.body)")
                return Self.json(reply.body)
            }
            // Spring night 2027-03-27/28: 22:00 CET = 21:00Z, 07:00 CEST = 05:00Z.
            #expect(try decision("night-1", "2027-03-27T20:59:59Z")["refusal"] as? String == "outside-window")
            #expect(try decision("night-1", "2027-03-27T21:00:00Z")["allowed"] as? Bool == true)
            #expect(try decision("night-1", "2027-03-28T04:59:59Z")["allowed"] as? Bool == true)
            #expect(try decision("night-1", "2027-03-28T05:00:00Z")["refusal"] as? String == "outside-window")
            // Autumn night 2027-10-30/31: 22:00 CEST = 20:00Z, 07:00 CET = 06:00Z.
            #expect(try decision("night-1", "2027-10-30T19:59:59Z")["refusal"] as? String == "outside-window")
            #expect(try decision("night-1", "2027-10-30T20:00:00Z")["allowed"] as? Bool == true)
            #expect(try decision("night-1", "2027-10-31T05:59:59Z")["allowed"] as? Bool == true)
            #expect(try decision("night-1", "2027-10-31T06:00:00Z")["refusal"] as? String == "outside-window")
            // The visit, to the second, in UTC or with an offset.
            #expect(try decision("staff-7", "2027-03-28T03:59:59Z")["refusal"] as? String == "not-yet-valid")
            #expect(try decision("staff-7", "2027-03-28T06:00:00%2B02:00")["grantId"] as? Int == visitId)
            #expect(try decision("staff-7", "2027-03-28T04:29:59Z")["allowed"] as? Bool == true)
            #expect(try decision("staff-7", "2027-03-28T04:30:00Z")["refusal"] as? String == "expired")

            // Revoked at once, and kept for the record.
            let revoked = try gateway.httpSend("DELETE", "/integration/v1/locks/lock-1/grants/\(visitId)", json: "", token: planner)
            #expect(revoked.status == 200 && Self.json(revoked.body)["revokedBy"] as? String == "care-plan", "\(revoked.body)")
            #expect(try decision("staff-7", "2027-03-28T04:10:00Z")["refusal"] as? String == "revoked")
            // The table keeps grants as evidence: no delete, no change but a revocation.
            #expect(throws: (any Error).self) { try database.connect().execute("DELETE FROM lock_grants") }
            #expect(throws: (any Error).self) { try database.connect().execute("UPDATE lock_grants SET valid_to = valid_to + interval '1 day'") }
            #expect(throws: (any Error).self) { try database.connect().execute("UPDATE lock_grants SET revoked_at = NULL WHERE revoked_at IS NOT NULL") }
            #expect(try database.count("SELECT count(*) FROM lock_grants WHERE revoked_at IS NOT NULL AND revoked_by = 'care-plan'") == 1)
            let all = Self.json(try gateway.httpGet("/integration/v1/locks/lock-1/grants?includeEnded=true", token: nightTeam).body)
            #expect((all["items"] as? [[String: Any]])?.count == 2)

            // Scope: the alarm team reads but does not grant; other roles and tenants see nothing; sensors are no locks.
            #expect(try gateway.httpSend("POST", "/integration/v1/locks/lock-1/grants", json: #"{"staffRef":"x","validTo":"2030-01-01T00:00:00Z"}"#,
                                         token: nightTeam).status == 403)
            #expect(try gateway.httpGet("/integration/v1/locks/lock-1/grants", token: integrator).status == 403)
            #expect(try gateway.httpGet("/integration/v1/locks/lock-2/grants", token: planner).status == 404)
            #expect(try gateway.httpSend("POST", "/integration/v1/locks/sensor-1/grants", json: #"{"staffRef":"x","validTo":"2030-01-01T00:00:00Z"}"#,
                                         token: planner).status == 409)
            // A personal identity number never reaches the table.
            let personal = try gateway.httpSend("POST", "/integration/v1/locks/lock-1/grants",
                                                json: #"{"staffRef":"191212121212","validTo":"2030-01-01T00:00:00Z"}"#, token: planner)
            #expect(personal.status == 400)
            #expect(try database.count("SELECT count(*) FROM lock_grants WHERE staff_ref = '191212121212'") == 0)

            // Every read of grants is in the audit trail as class 3, naming the lock.
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM audit_log WHERE endpoint LIKE '%/locks/%' AND class = 3 AND 'lock-1' = ANY(subjects)") >= 10
            })
        }
    
        @Test("a visit plan on the real stack: grants per lock, an exact re-import changes nothing, a change revokes")
        func visitPlanOnTheRealStack() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["lock-a", "lock-b", "lock-c"], type: "digital-lock")
            try database.connect().execute("""
                UPDATE devices SET care_recipient_ref = 'cr-1' WHERE device_id IN ('lock-a', 'lock-b');
                UPDATE devices SET care_recipient_ref = 'cr-2' WHERE device_id = 'lock-c'
                """)
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let planner = try gateway.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            let period = "from=2027-03-22T00:00:00%2B01:00&to=2027-03-29T00:00:00%2B02:00"
            // Fractional seconds on purpose: the stored window must equal the planned one to the microsecond.
            let plan = """
                {"visits":[
                  {"visitRef":"v-1","careRecipientRef":"cr-1","staffRef":"staff-1","plannedStart":"2027-03-28T07:00:00.123456+02:00","plannedEnd":"2027-03-28T07:30:00+02:00"},
                  {"visitRef":"v-2","careRecipientRef":"cr-2","staffRef":"staff-2","plannedStart":"2027-03-27T22:00:00+01:00","plannedEnd":"2027-03-28T06:00:00+02:00","marginMinutes":0}
                ]}
                """
            let first = try gateway.httpSend("POST", "/integration/v1/visit-plans?\(period)", json: plan, token: planner)
            #expect(first.status == 200, "\(first.body)")
            #expect(Self.json(first.body)["created"] as? Int == 3, "v-1 on both of cr-1's locks, v-2 on cr-2's: \(first.body)")
            #expect(try database.count("SELECT count(*) FROM lock_grants WHERE source = 'visit-plan' AND granted_by = 'care-plan'") == 3)

            let again = Self.json(try gateway.httpSend("POST", "/integration/v1/visit-plans?\(period)", json: plan, token: planner).body)
            #expect(again["created"] as? Int == 0 && again["unchanged"] as? Int == 3 && again["revoked"] as? Int == 0, "\(again)")

            // The night visit across the spring change: 22:00 CET to 06:00 CEST, to the second.
            func allowed(_ lock: String, _ staff: String, _ at: String) throws -> Bool? {
                Self.json(try gateway.httpGet("/integration/v1/locks/\(lock)/access?staffRef=\(staff)&at=\(at)", token: planner).body)["allowed"] as? Bool
            }
            #expect(try allowed("lock-c", "staff-2", "2027-03-27T21:00:00Z") == true)
            #expect(try allowed("lock-c", "staff-2", "2027-03-28T03:59:59Z") == true)
            #expect(try allowed("lock-c", "staff-2", "2027-03-28T04:00:00Z") == false)
            #expect(try allowed("lock-b", "staff-1", "2027-03-28T04:46:00Z") == true, "15 minutes early, on either lock")

            // The next plan drops v-2: its grant is revoked, kept for the record.
            let next = """
                {"visits":[{"visitRef":"v-1","careRecipientRef":"cr-1","staffRef":"staff-1","plannedStart":"2027-03-28T07:00:00.123456+02:00","plannedEnd":"2027-03-28T07:30:00+02:00"}]}
                """
            let changed = Self.json(try gateway.httpSend("POST", "/integration/v1/visit-plans?\(period)", json: next, token: planner).body)
            #expect(changed["revoked"] as? Int == 1 && changed["unchanged"] as? Int == 2, "\(changed)")
            #expect(try allowed("lock-c", "staff-2", "2027-03-27T23:00:00Z") == false)
            #expect(try database.count("SELECT count(*) FROM lock_grants WHERE revoked_at IS NOT NULL AND visit_ref = 'v-2'") == 1)
        }
}
}
