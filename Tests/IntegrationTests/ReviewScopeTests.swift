import Access
import Alarms
import API
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import Registry
import Storage
import Testing

extension IntegrationTests {
    /// Issue 10, "also found in review": alarm figures, the audit trail and dead-letter reasons are scoped like
    /// every other read, and a request's `actor`/`operator` never replaces the authenticated client.
    @Suite(.serialized) struct ReviewScope {
        struct Clients: ClientAuthenticator {
            static let identities: [String: ClientIdentity] = Scope.Clients.identities.merging([
                "care-auditor": ClientIdentity(name: "care-auditor", roles: [.auditor], tenants: ["elderly-care"], clearance: 3),
                "low-auditor": ClientIdentity(name: "low-auditor", roles: [.auditor], tenants: nil, clearance: 2),
            ]) { $1 }
            func identity(token: String) async throws -> ClientIdentity? { Self.identities[token] }
        }

        static func withApp(_ body: @escaping @Sendable (any TestClientProtocol, AuditTrail, TestDatabase) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try Scope.seed(database)
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let trail = AuditTrail(pool: pool, logger: TestStack.logger)
            let router = buildRouter(APIDependencies(
                catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool), authenticator: Clients(), auditTrail: trail,
                alarms: PostgresAlarmRepository(pool: pool)))
            try await Application(router: router).test(.router) { client in try await body(client, trail, database) }
        }

        static func json(_ text: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
        }

        @Test("alarm stats count only the alarms of the client's tenants and clearance")
        func statsScoped() async throws {
            try await Self.withApp { client, _, _ in
                func total(_ token: String) async throws -> Int? {
                    let (status, body) = try await Scope.get(client, "/integration/v1/alarms/stats", as: token)
                    #expect(status == 200)
                    return Self.json(body)["total"] as? Int
                }
                // Seeded: sos (elderly-care, class 3), low_battery (elderly-care, class 1), tamper (schools, class 1).
                #expect(try await total("all") == 3)
                #expect(try await total("care-operator") == 2)
                #expect(try await total("care-reader") == 1)
                let groups = Self.json(try await Scope.get(client, "/integration/v1/alarms/stats", as: "care-reader").1)["byTypeAndPriority"]
                #expect((groups as? [[String: Any]])?.compactMap { $0["type"] as? String } == ["low_battery"])
            }
        }

        @Test("the audit trail is read within the auditor's tenants and clearance")
        func auditScoped() async throws {
            try await Self.withApp { client, trail, _ in
                func record(_ marker: String, _ subjects: [String], dataClass: Int) -> AuditRecord {
                    AuditRecord(atMicros: Int64(Date().timeIntervalSince1970 * 1e6), client: marker, roles: "integrator",
                                method: "GET", endpoint: "/x", path: "/x", subjects: subjects, records: 1,
                                dataClass: dataClass, status: 200)
                }
                trail.append(record("care-class3", ["care-1"], dataClass: 3))
                trail.append(record("care-ref", ["cr-1"], dataClass: 3))
                trail.append(record("care-class2", ["care-1"], dataClass: 2))
                trail.append(record("school", ["school-1"], dataClass: 2))
                trail.append(record("mixed", ["care-1", "school-1"], dataClass: 2))
                trail.append(record("no-subject", [], dataClass: 2))
                await trail.flush()
                func clients(_ token: String) async throws -> Set<String> {
                    let (status, body) = try await Scope.get(client, "/integration/v1/audit?limit=1000", as: token)
                    #expect(status == 200, "\(body)")
                    let items = Self.json(body)["items"] as? [[String: Any]] ?? []
                    return Set(items.compactMap { $0["client"] as? String }.filter { !$0.contains("auditor") && $0 != "all" })
                }
                let everything: Set = ["care-class3", "care-ref", "care-class2", "school", "mixed", "no-subject"]
                #expect(try await clients("auditor") == everything)
                #expect(try await clients("care-auditor") == ["care-class3", "care-ref", "care-class2"])
                #expect(try await clients("low-auditor") == ["care-class2", "school", "mixed", "no-subject"])
                // The subject filter does not reach past the scope either.
                let probe = try await Scope.get(client, "/integration/v1/audit?subject=school-1", as: "care-auditor")
                #expect(probe.0 == 200 && !probe.1.contains("school"))
            }
        }

        @Test("below clearance 3 a dead letter's reason does not quote the refused value")
        func deadLetterReasonRedacted() async throws {
            try await Self.withApp { client, _, database in
                let connection = try database.connect()
                defer { connection.close() }
                try connection.execute("""
                    INSERT INTO dead_letters (received_at, topic, device_id, payload, reason, message_key, record_index) VALUES
                        (now(), 'devices/care-1/events', 'care-1', '<mrq/>', 'records[0]: location_text "Kitchen" is longer than allowed at 59.3281', '\\x09', 0)
                    """)
                let low = try await Scope.get(client, "/iot/v1/dead-letters", as: "care-admin")
                #expect(low.0 == 200 && low.1.contains("location_text"), "\(low.1)")
                #expect(!low.1.contains("Kitchen") && !low.1.contains("59.3281"), "\(low.1)")
                let full = try await Scope.get(client, "/iot/v1/dead-letters", as: "all")
                #expect(full.1.contains("Kitchen") && full.1.contains("59.3281"))
            }
        }

        @Test("an operator or actor named in a request is recorded beside the authenticated client, never instead")
        func actorBesideClient() async throws {
            try await Self.withApp { client, _, _ in
                let ack = try await client.execute(uri: "/integration/v1/alarms/1/acknowledge", method: .post,
                                                   headers: [.authorization: "Bearer care-operator"],
                                                   body: ByteBuffer(string: #"{"operator":"op-7"}"#)) { Int($0.status.code) }
                #expect(ack == 200)
                let detail = Self.json(try await Scope.get(client, "/integration/v1/alarms/1", as: "care-operator").1)
                let entry = (detail["timeline"] as? [[String: Any]])?.first { $0["change"] as? String == "acknowledged" }
                #expect(entry?["actor"] as? String == "op-7")
                #expect(entry?["client"] as? String == "care-operator", "\(String(describing: entry))")

                let suspend = try await client.execute(uri: "/iot/v1/devices/care-1/suspend", method: .post,
                                                       headers: [.authorization: "Bearer care-admin"],
                                                       body: ByteBuffer(string: #"{"reason":"test","actor":"someone-else"}"#)) { Int($0.status.code) }
                #expect(suspend == 200)
                let patch = try await client.execute(uri: "/iot/v1/devices/care-1", method: .patch,
                                                     headers: [.authorization: "Bearer care-admin", .contentType: "application/json"],
                                                     body: ByteBuffer(string: #"{"placement":"hall","actor":"all"}"#)) { Int($0.status.code) }
                #expect(patch == 200)
                let history = Self.json(try await Scope.get(client, "/iot/v1/devices/care-1/history", as: "care-admin").1)
                let items = history["items"] as? [[String: Any]] ?? []
                let suspended = items.first { $0["action"] as? String == "suspend" }
                #expect(suspended?["actor"] as? String == "someone-else" && suspended?["client"] as? String == "care-admin", "\(items)")
                let updated = items.first { $0["action"] as? String == "update" }
                #expect(updated?["actor"] as? String == "all" && updated?["client"] as? String == "care-admin", "\(items)")
                let bad = try await client.execute(uri: "/iot/v1/devices/care-1", method: .patch,
                                                   headers: [.authorization: "Bearer care-admin", .contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"placement":"hall","actor":"x\n\u0000"}"#)) { Int($0.status.code) }
                #expect(bad == 400)
            }
        }
    }
}
