import Foundation
import MQTT
import Testing

extension IntegrationTests {
    /// Remote commands, the lock's own events and the access log, end to end: a real gateway, PostgreSQL, the broker
    /// with dynamic security, and a lock that onboarded itself and reads its command topic on its own account.
    @Suite(.serialized) struct LockAccess {
        typealias Inbox = Onboarding.Inbox

        static func json(_ text: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }

        static func iso(_ date: Date) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: date)
        }

        /// Registers a lock (NL-200) for `recipient`, claims it with its code, and connects it on its own account,
        /// subscribed to its command topic. Returns the connected lock and its broker password.
        static func onboardLock(_ gateway: GatewayProcess, id: String, serial: String, recipient: String,
                                inbox: Inbox) async throws -> (client: MQTTClient, password: String) {
            let registered = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                {"deviceId":"\(id)","serialNumber":"\(serial)","type":"digital-lock","vendor":"Nordlock","model":"nordlock-nl200","tenant":"test","careRecipientRef":"\(recipient)"}
                """)
            #expect(registered.status == 201, "\(registered.body)")
            let code = json(registered.body)["claimCode"] as? String ?? ""
            let answers = Inbox()
            let nonce = Onboarding.nonce()
            var configuration = try TestStack.mqtt(serial, TestStack.bootstrapAccount)
            configuration.subscriptions = [("provisioning/\(serial)/result/\(nonce)", 1)]
            let bootstrap = try MQTTClient(configuration: configuration, logger: TestStack.logger) { answers.add($0) }
            try bootstrap.connect()
            defer { bootstrap.stop() }
            try await Task.sleep(for: .milliseconds(300))
            try bootstrap.publish(topic: "provisioning/\(serial)/claim", payload: Onboarding.claim(serial: serial, code: code, nonce: nonce))
            #expect(await eventually(timeout: 10) { !answers.all.isEmpty }, "\(gateway.logTail())")
            let password = answers.json(0)?["password"] as? String ?? ""
            return (try connectLock(id: id, password: password, inbox: inbox), password)
        }

        /// The lock on its own account, reading its command topic.
        static func connectLock(id: String, password: String, inbox: Inbox) throws -> MQTTClient {
            var own = try TestStack.mqtt(id, (id, password))
            own.clientID = id
            own.subscriptions = [("commands/\(id)/#", 1)]
            let lock = try MQTTClient(configuration: own, logger: TestStack.logger) { inbox.add($0) }
            try lock.connect(timeout: 5)
            return lock
        }

        /// An NL-200 message at `at` (now by default).
        static func nl200(_ fields: String, at: Date = Date()) -> [UInt8] {
            Array(#"{"ts":\#(Int64(at.timeIntervalSince1970 * 1000)),"power":{"mv":3600},\#(fields)}"#.utf8)
        }

        @Test("a command stored just before the gateway was killed reaches the lock after the restart, once it is published")
        func commandSurvivesAKill() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let first = GatewayProcess(databaseURL: database.url)
            defer { first.cleanUp() }
            try first.start()
            try await first.waitUntilReady()
            let suffix = TestStack.uniqueName("k").replacingOccurrences(of: "_", with: "-")
            let id = "lock-\(suffix)"
            let inbox = Inbox()
            let lock = try await Self.onboardLock(first, id: id, serial: "SN-\(suffix)", recipient: "cr-5", inbox: inbox).client
            defer { lock.stop() }
            try lock.publish(topic: "devices/\(id)/events", payload: Self.nl200(#""seq":1,"evt":"LOCK","lock":{"state":"LOCKED"}"#))
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM devices WHERE device_id = $1 AND lifecycle_state = 'active'", [id]) == 1
            })
            let planner = try first.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            let now = Date()
            let grant = try first.httpSend("POST", "/integration/v1/locks/\(id)/grants", json: """
                {"staffRef":"staff-1","validFrom":"\(Self.iso(now.addingTimeInterval(-60)))","validTo":"\(Self.iso(now.addingTimeInterval(3600)))"}
                """, token: planner)
            let grantId = Self.json(grant.body)["id"] as? Int ?? 0
            // Killed between storing a command and handing it to the broker: the row is there, unpublished.
            first.kill()
            let commandId = UUID().uuidString.lowercased()
            try database.connect().execute("""
                INSERT INTO lock_commands (id, device_id, action, staff_ref, requested_by, requested_at, expires_at, grant_id, status)
                VALUES ('\(commandId)', '\(id)', 'unlock', 'staff-1', 'staff-app', now(), now() + interval '2 minutes', \(grantId), 'pending')
                """)
            // The same gateway (journal, broker session) started again.
            try first.start()
            try await first.waitUntilReady()
            let second = first
            #expect(await eventually(timeout: 10) {
                inbox.all.contains { $0.topic == "commands/\(id)/lock"
                    && (try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any])?["id"] as? String == commandId }
            }, "the command never reached the lock: \(second.logTail())")
            #expect(try await eventually(timeout: 5) {
                try database.count("SELECT count(*) FROM lock_commands WHERE id = $1 AND published_at IS NOT NULL", [commandId]) == 1
            })
        }

        @Test("grant lists: published retained with a version per change, confirmed by the lock, stale in the fleet when not")
        func grantLists() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            gateway.extraEnvironment = ["CIP_GRANT_LIST_INTERVAL": "1", "CIP_GRANT_LIST_STALE_AFTER": "2"]
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let suffix = TestStack.uniqueName("g").replacingOccurrences(of: "_", with: "-")
            let id = "lock-\(suffix)"
            let inbox = Inbox()
            let (lock, password) = try await Self.onboardLock(gateway, id: id, serial: "SN-\(suffix)", recipient: "cr-9", inbox: inbox)
            let events = "devices/\(id)/events"
            try lock.publish(topic: events, payload: Self.nl200(#""seq":1,"evt":"LOCK","lock":{"state":"LOCKED"}"#))
            func lists() -> [[String: Any]] {
                inbox.all.filter { $0.topic == "commands/\(id)/grants" }
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any] }
            }
            // Active: an empty list, version 1.
            #expect(await eventually(timeout: 10) { lists().last?["version"] as? Int == 1 }, "\(gateway.logTail())")
            #expect((lists().last?["grants"] as? [Any])?.isEmpty == true)

            let planner = try gateway.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            let now = Date()
            let grant = try gateway.httpSend("POST", "/integration/v1/locks/\(id)/grants", json: """
                {"staffRef":"staff-1","validFrom":"\(Self.iso(now))","validTo":"\(Self.iso(now.addingTimeInterval(3600)))"}
                """, token: planner)
            #expect(grant.status == 201, "\(grant.body)")
            #expect(await eventually(timeout: 10) { lists().last?["version"] as? Int == 2 })
            let entries = lists().last?["grants"] as? [[String: Any]] ?? []
            #expect(entries.count == 1 && entries.first?["staffRef"] as? String == "staff-1", "\(entries)")
            #expect(lists().last?["timeZone"] as? String == "Europe/Stockholm")
            // Unchanged content: no new version, however many rounds pass.
            try await Task.sleep(for: .seconds(2.5))
            #expect(lists().compactMap { $0["version"] as? Int }.max() == 2)

            // The lock confirms 2; a version never published (99) is not believed.
            try lock.publish(topic: events, payload: Self.nl200(#""seq":2,"evt":"GRANTS","lock":{"state":"LOCKED"},"grants":{"version":2}"#))
            try lock.publish(topic: events, payload: Self.nl200(#""seq":3,"evt":"GRANTS","lock":{"state":"LOCKED"},"grants":{"version":99}"#))
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM lock_grant_lists WHERE device_id = $1 AND held_version = 2", [id]) == 1
            })
            try await Task.sleep(for: .seconds(2.5))
            let fleet = Self.json(try gateway.httpGet("/iot/v1/fleet").body)
            #expect((fleet["staleGrantLists"] as? [[String: Any]] ?? []).isEmpty, "confirmed: not stale: \(fleet)")

            // A revocation changes the list: version 3, not confirmed: stale after the grace.
            let grantId = Self.json(grant.body)["id"] as? Int ?? 0
            #expect(try gateway.httpSend("DELETE", "/integration/v1/locks/\(id)/grants/\(grantId)", json: "", token: planner).status == 200)
            #expect(await eventually(timeout: 10) { lists().last?["version"] as? Int == 3 })
            #expect(try await eventually(timeout: 10) {
                let stale = Self.json(try gateway.httpGet("/iot/v1/fleet").body)["staleGrantLists"] as? [[String: Any]] ?? []
                return stale.contains { $0["deviceId"] as? String == id && $0["version"] as? Int == 3 && $0["heldVersion"] as? Int == 2 }
            })

            // Back after a while away: the broker hands the lock the newest list (retained).
            lock.stop()
            let again = Inbox()
            let back = try Self.connectLock(id: id, password: password, inbox: again)
            defer { back.stop() }
            #expect(await eventually(timeout: 10) {
                again.all.contains { $0.topic == "commands/\(id)/grants" && $0.retained
                    && (try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any])?["version"] as? Int == 3 }
            })
        }

        @Test("unlock commands round trip, refusals and expiry; numbered events with gaps; an unplanned unlock raises an alarm; all in the access log and the visits report")
        func commandsEventsAndAccessLog() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let suffix = TestStack.uniqueName("l").replacingOccurrences(of: "_", with: "-")
            let id = "lock-\(suffix)"
            let inbox = Inbox()
            let lock = try await Self.onboardLock(gateway, id: id, serial: "SN-\(suffix)", recipient: "cr-77", inbox: inbox).client
            defer { lock.stop() }
            let events = "devices/\(id)/events"
            // Its first message makes it active.
            try lock.publish(topic: events, payload: Self.nl200(#""seq":1,"evt":"LOCK","lock":{"state":"LOCKED"}"#))
            #expect(try await eventually(timeout: 10) {
                Self.json(try gateway.httpGet("/iot/v1/devices/\(id)").body)["lifecycleState"] as? String == "active"
            }, "\(gateway.logTail())")

            let planner = try gateway.createClient(name: "care-plan", roles: "care-planner", tenants: "test", clearance: 3)
            let app = try gateway.createClient(name: "staff-app", roles: "lock-operator", tenants: "test", clearance: 3)
            let stranger = try gateway.createClient(name: "other-app", roles: "lock-operator", tenants: "other", clearance: 3)
            let lowClearance = try gateway.createClient(name: "low-app", roles: "lock-operator", tenants: "test", clearance: 2)
            let now = Date()
            let grant = try gateway.httpSend("POST", "/integration/v1/locks/\(id)/grants", json: """
                {"staffRef":"staff-1","validFrom":"\(Self.iso(now.addingTimeInterval(-600)))","validTo":"\(Self.iso(now.addingTimeInterval(3600)))","visitRef":"v-1"}
                """, token: planner)
            #expect(grant.status == 201, "\(grant.body)")

            // Allowed: 202, published to the lock, answered, succeeded.
            let unlock = try gateway.httpSend("POST", "/integration/v1/locks/\(id)/unlock", json: #"{"staffRef":"staff-1"}"#, token: app)
            #expect(unlock.status == 202, "\(unlock.body)")
            let command = Self.json(unlock.body)
            let commandId = command["id"] as? String ?? ""
            #expect(command["status"] as? String == "pending")
            #expect(await eventually(timeout: 10) { !inbox.all.isEmpty }, "the lock never got its command: \(gateway.logTail())")
            let delivered = inbox.json(0) ?? [:]
            #expect(inbox.all.first?.topic == "commands/\(id)/lock")
            #expect(delivered["id"] as? String == commandId && delivered["action"] as? String == "unlock"
                    && delivered["staffRef"] as? String == "staff-1", "\(delivered)")
            try lock.publish(topic: events, payload: Self.nl200(#""seq":2,"evt":"UNLOCK","lock":{"state":"UNLOCKED","by":"APP"}"#))
            try lock.publish(topic: events, payload: Self.nl200(#""seq":3,"evt":"CMD","lock":{"state":"UNLOCKED"},"cmd":{"id":"\#(commandId)","result":"OK"}"#))
            #expect(try await eventually(timeout: 10) {
                Self.json(try gateway.httpGet("/integration/v1/commands/\(commandId)", token: app).body)["status"] as? String == "succeeded"
            }, "\(gateway.logTail())")

            // Refused: no grant for staff-2; the refusal is stored and named.
            let refused = try gateway.httpSend("POST", "/integration/v1/locks/\(id)/unlock", json: #"{"staffRef":"staff-2"}"#, token: app)
            #expect(refused.status == 403, "\(refused.body)")
            let problem = Self.json(refused.body)
            #expect(problem["refusal"] as? String == "no-grant", "\(problem)")
            let refusedId = problem["commandId"] as? String ?? ""
            #expect(Self.json(try gateway.httpGet("/integration/v1/commands/\(refusedId)", token: app).body)["status"] as? String == "refused")
            // Another tenant's client and a client below class 3: as if the lock did not exist / forbidden.
            #expect(try gateway.httpSend("POST", "/integration/v1/locks/\(id)/unlock", json: #"{"staffRef":"staff-1"}"#, token: stranger).status == 404)
            #expect(try gateway.httpGet("/integration/v1/commands/\(commandId)", token: stranger).status == 404)
            #expect(try gateway.httpSend("POST", "/integration/v1/locks/\(id)/unlock", json: #"{"staffRef":"staff-1"}"#, token: lowClearance).status == 403)
            // Hostile bodies: a personal identity number as staff, a huge ttl, not JSON.
            for body in [#"{"staffRef":"19121212-1212"}"#, #"{"staffRef":"staff-1","ttlSeconds":86400}"#, "unlock please",
                         #"{"staffRef":"\#(String(repeating: "x", count: 65))"}"#] {
                let reply = try gateway.httpSend("POST", "/integration/v1/locks/\(id)/unlock", json: body, token: app)
                #expect(reply.status == 400, "\(body): \(reply.body)")
            }

            // No answer: the command expires.
            let silent = try gateway.httpSend("POST", "/integration/v1/locks/\(id)/lock", json: #"{"staffRef":"staff-1","ttlSeconds":5}"#, token: app)
            #expect(silent.status == 202, "\(silent.body)")
            let silentId = Self.json(silent.body)["id"] as? String ?? ""
            #expect(try await eventually(timeout: 15) {
                Self.json(try gateway.httpGet("/integration/v1/commands/\(silentId)", token: app).body)["status"] as? String == "expired"
            })
            // A late answer does not revive it, and one lock cannot answer another's command.
            try lock.publish(topic: events, payload: Self.nl200(#""seq":4,"evt":"CMD","lock":{"state":"LOCKED"},"cmd":{"id":"\#(silentId)","result":"OK"}"#))

            // A lock that misbehaves stops nothing: an event number at the top of Int64 (ignored), an answer to a
            // command that is not its own, a reason of 3,000 combining marks (not stored: too long).
            try lock.publish(topic: events, payload: Self.nl200(#""seq":"9223372036854775807","evt":"LOCK","lock":{"state":"LOCKED"}"#))
            try lock.publish(topic: events, payload: Self.nl200(#""seq":4,"evt":"CMD","lock":{"state":"LOCKED"},"cmd":{"id":"\#(refusedId)","result":"OK","reason":"\#(String(repeating: "e\u{301}\u{302}", count: 1000))"}"#))
            #expect(try database.count("SELECT count(*) FROM lock_commands WHERE id = $1 AND status = 'refused'", [refusedId]) == 1)
            // Events 5 and 6 never arrive: a gap. The staff card of staff-2 (no grant) opens the door: an alarm.
            try lock.publish(topic: events, payload: Self.nl200(#""seq":7,"evt":"UNLOCK","lock":{"state":"UNLOCKED","by":"CARD","staff":"staff-2"}"#))
            // A card unlock that names a command which is no remote unlock of this lock is still a card at the door.
            try lock.publish(topic: events, payload: Self.nl200(#""evt":"UNLOCK","lock":{"state":"UNLOCKED","by":"CARD","staff":"staff-3"},"cmd":{"id":"\#(refusedId)"}"#))
            // staff-1's card inside the grant: no alarm.
            try lock.publish(topic: events, payload: Self.nl200(#""seq":8,"evt":"UNLOCK","lock":{"state":"UNLOCKED","by":"CARD","staff":"staff-1"}"#))
            try lock.publish(topic: events, payload: Self.nl200(#""seq":9,"evt":"LOCK","lock":{"state":"LOCKED","by":"CARD","staff":"staff-1"}"#))
            let operatorToken = try gateway.createClient(name: "night", roles: "alarm-operator", tenants: "test", clearance: 3)
            #expect(try await eventually(timeout: 10) {
                let alarms = Self.json(try gateway.httpGet("/integration/v1/alarms?deviceId=\(id)", token: operatorToken).body)
                return (alarms["items"] as? [[String: Any]] ?? []).contains { $0["type"] as? String == "unplanned_unlock" }
            }, "no unplanned_unlock alarm: \(gateway.logTail())")
            let alarms = Self.json(try gateway.httpGet("/integration/v1/alarms?deviceId=\(id)", token: operatorToken).body)
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM events WHERE device_id = $1 AND event = 'unplanned_unlock'", [id]) == 2
            }, "staff-2's and staff-3's unlocks are unplanned, staff-1's is not")
            #expect((alarms["items"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "unplanned_unlock" }.count == 1,
                    "one open alarm per lock and type (a second trigger counts on it): \(alarms)")
            #expect(try database.count("SELECT count(*) FROM lock_sequences WHERE device_id = $1 AND last_sequence < 100", [id]) == 1,
                    "the absurd number was not believed")
            #expect(try database.count("SELECT count(*) FROM lock_sequence_gaps WHERE device_id = $1 AND first_missing = 5 AND last_missing = 6", [id]) == 1)
            #expect(try database.count("SELECT count(*) FROM lock_commands WHERE id = $1 AND status = 'expired'", [silentId]) == 1)
            // A late event 5 narrows the gap to 6.
            try lock.publish(topic: events, payload: Self.nl200(#""seq":5,"evt":"LOCK","lock":{"state":"LOCKED"}"#, at: now))
            #expect(try await eventually(timeout: 10) {
                try database.count("SELECT count(*) FROM lock_sequence_gaps WHERE device_id = $1 AND first_missing = 6 AND last_missing = 6", [id]) == 1
            })

            // The access log: the grant, the commands (refused one too), the lock's events, the gap, the unplanned unlock.
            let log = try gateway.httpGet("/integration/v1/locks/\(id)/access-log", token: planner)
            #expect(log.status == 200, "\(log.body)")
            let items = Self.json(log.body)["items"] as? [[String: Any]] ?? []
            let kinds = Set(items.compactMap { $0["kind"] as? String })
            #expect(kinds.isSuperset(of: ["grant-created", "command-requested", "command-refused", "command-ended", "lock-event", "sequence-gap"]), "\(kinds)")
            let lockEvents = items.filter { $0["kind"] as? String == "lock-event" }.compactMap { ($0["detail"] as? [String: String])?["event"] }
            #expect(lockEvents.contains("unplanned_unlock") && lockEvents.contains("command_result"), "\(lockEvents)")
            let times = items.compactMap { $0["at"] as? String }
            #expect(times == times.sorted(), "in time order")
            #expect(try gateway.httpGet("/integration/v1/locks/\(id)/access-log", token: stranger).status == 403, "lock-operator does not read logs")
            #expect(try gateway.httpGet("/integration/v1/locks/\(id)/access-log?from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z", token: planner).status == 400,
                    "more than 92 days")

            // The visits report: staff-1's visit, arrival = the remote unlock (or the card), departure = the last lock.
            let visits = try gateway.httpGet("/integration/v1/visits?careRecipientRef=cr-77", token: planner)
            #expect(visits.status == 200, "\(visits.body)")
            let visit = (Self.json(visits.body)["items"] as? [[String: Any]] ?? []).first ?? [:]
            #expect(visit["staffRef"] as? String == "staff-1" && visit["arrived"] as? Bool == true, "\(visits.body)")
            #expect(visit["firstUnlock"] != nil && visit["lastLock"] != nil, "\(visit)")
            let otherRecipient = Self.json(try gateway.httpGet("/integration/v1/visits?careRecipientRef=cr-78", token: planner).body)
            #expect((otherRecipient["items"] as? [Any])?.isEmpty == true)
            #expect(try gateway.httpGet("/integration/v1/visits?careRecipientRef=19121212-1212", token: planner).status == 400)
            #expect(try await eventually(timeout: 5) {
                try database.count("SELECT count(*) FROM audit_log WHERE endpoint = '/integration/v1/visits' AND 'cr-77' = ANY(subjects) AND class = 3") >= 1
            }, "the visits read is audited with the care recipient")
        }
    }
}
