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
                {"staffRef":"night-1","weekly":{"days":["sat"],"start":"22:00","end":"07:00"},"reason":"night patrol"}
                """, token: planner)
            #expect(night.status == 201, "\(night.body)")
            let visit = try gateway.httpSend("POST", "/integration/v1/locks/lock-1/grants", json: """
                {"staffRef":"staff-7","validFrom":"2027-03-28T06:00:00+02:00","validTo":"2027-03-28T06:30:00+02:00","source":"visit-plan","visitRef":"v-42"}
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
            #expect(try decision("staff-7", "2027-03-28T04:10:00Z")["refusal"] as? String == "no-grant")
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
    }
}
