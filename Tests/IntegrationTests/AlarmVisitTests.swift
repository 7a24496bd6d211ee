import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// Alarm visits on the real stack: an alarm raised over MQTT at a safety alarm, acknowledged with a responder,
    /// lets exactly that responder open the care recipient's lock (in the alarm's tenant only) until the resolution
    /// plus the margin; hostile responders are refused before anything is written.
    @Suite(.serialized) struct AlarmVisitSuite {
        static func json(_ text: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }

        @Test("acknowledge with a responder grants the lock until resolution + margin; tenant, clearance, hostile input")
        func alarmVisitOnTheRealStack() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["safety-1", "safety-none"], type: "safety-alarm")
            try database.register(["lock-1", "lock-other"], type: "digital-lock")
            try database.register(["lock-off"], type: "digital-lock", state: "suspended")
            // cr-1's home: safety-1, lock-1, lock-off (suspended). lock-other carries the same reference in another
            // tenant: another person, never granted. safety-none has no care recipient.
            try database.connect().execute("""
                UPDATE devices SET care_recipient_ref = 'cr-1' WHERE device_id IN ('safety-1', 'lock-1', 'lock-off', 'lock-other');
                UPDATE devices SET tenant = 'other' WHERE device_id = 'lock-other'
                """)
            let gateway = GatewayProcess(databaseURL: database.url)
            // A small margin, so that the end after the resolution shows within the test.
            gateway.extraEnvironment = ["CIP_ALARM_VISIT_MARGIN": "4", "CIP_ALARM_VISIT_CAP": "3600"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let operatorToken = try gateway.createClient(name: "night-team", roles: "alarm-operator", tenants: "test", clearance: 3)
            let lowOperator = try gateway.createClient(name: "day-desk", roles: "alarm-operator", tenants: "test", clearance: 2)
            let live = try SSEClient(port: gateway.httpPort, path: "/integration/v1/alarms/stream", token: operatorToken)
            defer { live.close() }

            let device = try makePublisher("alarm-visit-devices")
            defer { device.stop() }
            try device.publish(topic: "devices/safety-1/events", payload: Alarms.scaip("ME", ref: "v1", device: "safety-1"))
            try device.publish(topic: "devices/safety-none/events", payload: Alarms.scaip("ME", ref: "v2", device: "safety-none"))
            #expect(device.waitForAcknowledgements(timeout: 10))
            #expect(try await eventually(timeout: 15) {
                try Alarms.alarm(gateway, device: "safety-1", type: "alarm_button") != nil
                    && Alarms.alarm(gateway, device: "safety-none", type: "alarm_button") != nil
            })
            let alarmID = try #require(try Alarms.alarm(gateway, device: "safety-1", type: "alarm_button")?["id"] as? Int)
            let noneID = try #require(try Alarms.alarm(gateway, device: "safety-none", type: "alarm_button")?["id"] as? Int)

            // Hostile responders: refused with problem+json, nothing written, the alarm still open.
            for value in [#""19121212-1212""#, "\"\(String(repeating: "x", count: 2048))\"", #""staff\u0000x""#, #""staff\u001b[31m""#] {
                let reply = try gateway.httpSend("POST", "/integration/v1/alarms/\(alarmID)/acknowledge",
                                                 json: #"{"operator":"op-1","responder":\#(value)}"#, token: operatorToken)
                #expect(reply.status == 400 && Self.json(reply.body)["status"] as? Int == 400, "\(value.prefix(20)): \(reply.body)")
            }
            // Clearance 2 may acknowledge, but not send a responder.
            let low = try gateway.httpSend("POST", "/integration/v1/alarms/\(alarmID)/acknowledge",
                                           json: #"{"operator":"op-1","responder":"staff-7"}"#, token: lowOperator)
            #expect(low.status == 403, "\(low.body)")
            #expect(try database.count("SELECT count(*) FROM lock_grants") == 0)
            #expect(try database.count("SELECT count(*) FROM alarms WHERE state = 'open'") == 2)

            // The alarm visit.
            let acked = try gateway.httpSend("POST", "/integration/v1/alarms/\(alarmID)/acknowledge",
                                             json: #"{"operator":"op-1","responder":"staff-7"}"#, token: operatorToken)
            #expect(acked.status == 200, "\(acked.body)")
            let responder = Self.json(acked.body)["responder"] as? [String: Any] ?? [:]
            let grants = responder["grants"] as? [[String: Any]] ?? []
            #expect(responder["staffRef"] as? String == "staff-7")
            #expect(grants.compactMap { $0["lockId"] as? String } == ["lock-1"], "\(acked.body)")
            #expect(try database.count("""
                SELECT count(*) FROM lock_grants WHERE device_id = 'lock-1' AND staff_ref = 'staff-7' AND source = 'alarm'
                  AND visit_ref = $1 AND granted_by = 'night-team' AND valid_to - valid_from = interval '1 hour'
                """, [String(alarmID)]) == 1)
            #expect(try database.count("SELECT count(*) FROM lock_grants WHERE device_id IN ('lock-other', 'lock-off')") == 0,
                    "another tenant's lock and a suspended one are not granted")

            func access(_ lock: String, _ staff: String, at: String? = nil) throws -> [String: Any] {
                let reply = try gateway.httpGet("/integration/v1/locks/\(lock)/access?staffRef=\(staff)" + (at.map { "&at=\($0)" } ?? ""),
                                                token: operatorToken)
                #expect(reply.status == 200, "\(reply.body)")
                return Self.json(reply.body)
            }
            #expect(try access("lock-1", "staff-7")["allowed"] as? Bool == true)
            #expect(try access("lock-1", "staff-8")["refusal"] as? String == "no-grant")

            // The timeline and the stream show it; a client below clearance 3 sees the alarm without the responder.
            let detail = Self.json(try gateway.httpGet("/integration/v1/alarms/\(alarmID)", token: operatorToken).body)
            let timeline = detail["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.compactMap { $0["change"] as? String } == ["opened", "acknowledged", "responder_assigned"])
            #expect((timeline.last?["details"] as? [String: String])?["locks"] == "lock-1")
            #expect(await eventually(timeout: 10) {
                live.events.contains { $0.data.contains("responder_assigned") && $0.data.contains("\"staffRef\":\"staff-7\"") }
            }, "\(live.events.map(\.data))")
            // A care alarm is class 3, so the class 2 client does not see it at all.
            #expect(try gateway.httpGet("/integration/v1/alarms/\(alarmID)", token: lowOperator).status == 404)

            // No care recipient: acknowledged all the same, and the timeline says no lock was granted.
            let none = try gateway.httpSend("POST", "/integration/v1/alarms/\(noneID)/acknowledge",
                                            json: #"{"operator":"op-1","responder":"staff-7"}"#, token: operatorToken)
            #expect(none.status == 200, "\(none.body)")
            let noneTimeline = Self.json(try gateway.httpGet("/integration/v1/alarms/\(noneID)", token: operatorToken).body)["timeline"]
                as? [[String: Any]] ?? []
            #expect((noneTimeline.last?["details"] as? [String: String])?["noLockGranted"]?.contains("no care recipient") == true)

            // Resolve: allowed until the margin is over, then refused.
            let resolved = try gateway.httpSend("POST", "/integration/v1/alarms/\(alarmID)/resolve",
                                                json: #"{"operator":"op-1","outcome":"visit_made"}"#, token: operatorToken)
            #expect(resolved.status == 200, "\(resolved.body)")
            #expect(try access("lock-1", "staff-7")["allowed"] as? Bool == true, "inside the margin")
            let ended = (Self.json(resolved.body)["responder"] as? [String: Any])?["grants"] as? [[String: Any]] ?? []
            let end = try #require(ended.first?["revokedAt"] as? String, "\(resolved.body)")
            let resolvedAt = try #require(Self.json(resolved.body)["resolvedAt"] as? String)
            #expect(try database.count("""
                SELECT count(*) FROM alarms a JOIN lock_grants g ON g.visit_ref = a.id::text
                WHERE a.id = $1 AND g.revoked_at = a.resolved_at + interval '4 seconds'
                """, [alarmID]) == 1, "resolution \(resolvedAt), end \(end)")
            #expect(try access("lock-1", "staff-7", at: end)["refusal"] as? String == "revoked")
            #expect(try await eventually(timeout: 10) { try access("lock-1", "staff-7")["refusal"] as? String == "revoked" })
            // The revocation is the one the table allows: the row is otherwise unchanged, and nothing can move it later.
            #expect(throws: (any Error).self) {
                try database.connect().execute("UPDATE lock_grants SET revoked_at = revoked_at + interval '1 hour'")
            }
        }
    }
}
