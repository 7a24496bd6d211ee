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
    /// Tenants and clearance through the API on a real database: a client sees only its tenants' devices and
    /// alarms (others answer 404, like unknown ids) and never a value above its clearance.
    @Suite(.serialized) struct Scope {
        struct Clients: ClientAuthenticator {
            static let identities: [String: ClientIdentity] = [
                "all": ClientIdentity(name: "all", roles: Set(Role.allCases), tenants: nil, clearance: 3),
                "care-admin": ClientIdentity(name: "care-admin", roles: [.deviceAdmin], tenants: ["elderly-care"], clearance: 2),
                "care-reader": ClientIdentity(name: "care-reader", roles: [.integrator], tenants: ["elderly-care"], clearance: 1),
                "care-operator": ClientIdentity(name: "care-operator", roles: [.alarmOperator], tenants: ["elderly-care"], clearance: 3),
                "auditor": ClientIdentity(name: "auditor", roles: [.auditor], tenants: nil, clearance: 3),
                "public": ClientIdentity(name: "public", roles: [.openData], tenants: nil, clearance: 1),
            ]
            func identity(token: String) async throws -> ClientIdentity? { Self.identities[token] }
        }

        static func seed(_ database: TestDatabase) throws {
            let connection = try database.connect()
            defer { connection.close() }
            try connection.execute("""
                INSERT INTO devices (device_id, serial_number, type, tenant, care_recipient_ref, lifecycle_state) VALUES
                    ('care-1', 'S1', 'gps-alarm', 'elderly-care', 'cr-1', 'active'),
                    ('school-1', 'S2', 'sensor', 'schools', NULL, 'active');
                INSERT INTO latest_observations (device_id, quantity, value_number, value_string, observed_at, received_at, message_key, confidentiality) VALUES
                    ('care-1', 'temperature', 21, NULL, now(), now(), '\\x01', 1),
                    ('care-1', 'battery', 80, NULL, now(), now(), '\\x01', 2),
                    ('care-1', 'position', NULL, '59.3,18.0', now(), now(), '\\x01', 3);
                INSERT INTO observations (device_id, quantity, value_number, observed_at, received_at, message_key, record_index, confidentiality) VALUES
                    ('care-1', 'temperature', 21, now(), now(), '\\x01', 0, 1),
                    ('care-1', 'latitude', 59.3, now(), now(), '\\x01', 1, 3);
                INSERT INTO raw_messages (device_id, topic, payload, received_at, message_key, journal_sequence, outcome, records_accepted, records_rejected) VALUES
                    ('care-1', 'devices/care-1/telemetry', 'secret', now(), '\\x01', 1, 'accepted', 1, 0);
                INSERT INTO dead_letters (received_at, topic, device_id, payload, reason, message_key) VALUES
                    (now(), 'devices/care-1/telemetry', 'care-1', 'x', 'bad', '\\x02'),
                    (now(), 'devices/school-1/telemetry', 'school-1', 'y', 'bad', '\\x03');
                INSERT INTO alarms (device_id, type, kind, priority, tenant, raised_at, last_triggered_at, ack_deadline, confidentiality, source_event_id) VALUES
                    ('care-1', 'sos', 'care', 1, 'elderly-care', now(), now(), now() + interval '1 hour', 3, 1),
                    ('care-1', 'low_battery', 'technical', 4, 'elderly-care', now(), now(), now() + interval '1 hour', 1, 2),
                    ('school-1', 'tamper', 'technical', 3, 'schools', now(), now(), now() + interval '1 hour', 1, 3);
                """)
        }

        static func withApp(_ body: @escaping @Sendable (any TestClientProtocol, AuditTrail, TestDatabase) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try seed(database)
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let trail = AuditTrail(pool: pool, logger: TestStack.logger)
            let router = buildRouter(APIDependencies(
                catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool), authenticator: Clients(), auditTrail: trail,
                openData: PostgresOpenDataRepository(pool: pool),
                alarms: PostgresAlarmRepository(pool: pool)))
            try await Application(router: router).test(.router) { client in try await body(client, trail, database) }
        }

        static func get(_ client: any TestClientProtocol, _ uri: String, as token: String) async throws -> (Int, String) {
            try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                (Int(response.status.code), String(buffer: response.body))
            }
        }

        @Test("tenants scope every device read; clearance leaves out values, payloads and personal references")
        func tenantsAndClearance() async throws {
            try await Self.withApp { client, _, _ in
                // Devices: the admin of elderly care sees its device only; the school's is 404 like an unknown id.
                let list = try await Self.get(client, "/iot/v1/devices", as: "care-admin")
                #expect(list.0 == 200 && list.1.contains("care-1") && !list.1.contains("school-1"))
                #expect(!list.1.contains("cr-1"), "clearance 2 must not see the care-recipient reference")
                #expect(try await Self.get(client, "/iot/v1/devices/school-1", as: "care-admin").0 == 404)
                #expect(try await Self.get(client, "/iot/v1/devices/school-1/history", as: "care-admin").0 == 404)
                #expect(try await Self.get(client, "/iot/v1/devices/care-1", as: "all").1.contains("cr-1"))
                // Registering for another tenant is refused, one device or per row of an import.
                let csv = "device_id,serial_number,type,tenant\ncare-9,S9,sensor,elderly-care\nschool-9,S10,sensor,schools\n"
                let imported = try await client.execute(uri: "/iot/v1/devices/import", method: .post,
                                                        headers: [.authorization: "Bearer care-admin", .contentType: "text/csv"],
                                                        body: ByteBuffer(string: csv)) { String(buffer: $0.body) }
                #expect(imported.contains("care-9") && imported.contains("tenant schools is not one of this client's"), "\(imported)")
                let single = try await client.execute(uri: "/iot/v1/devices", method: .post,
                                                      headers: [.authorization: "Bearer care-admin", .contentType: "application/json"],
                                                      body: ByteBuffer(string: #"{"deviceId":"school-8","serialNumber":"S8","type":"sensor","tenant":"schools"}"#)) {
                    Int($0.status.code)
                }
                #expect(single == 403)
                let fleet = try await Self.get(client, "/iot/v1/fleet", as: "care-admin")
                #expect(fleet.1.contains(#""total":2"#), "care-1 and the imported care-9")
                // Raw payloads are class 3; dead letters only of the client's devices.
                let messages = try await Self.get(client, "/iot/v1/devices/care-1/messages", as: "care-admin")
                #expect(messages.1.contains(#""payloadRedacted":true"#) && !messages.1.contains("secret"))
                #expect(try await Self.get(client, "/iot/v1/devices/care-1/messages", as: "all").1.contains("secret"))
                let letters = try await Self.get(client, "/iot/v1/dead-letters", as: "care-admin")
                #expect(letters.1.contains("care-1") && !letters.1.contains("school-1"))

                // Values: clearance 1 sees class 1 only, in latest and in the series.
                let latest = try await Self.get(client, "/integration/v1/devices/care-1/latest", as: "care-reader")
                #expect(latest.1.contains("temperature") && !latest.1.contains("battery") && !latest.1.contains("position"))
                let series = try await Self.get(client, "/integration/v1/devices/care-1/observations", as: "care-reader")
                #expect(series.1.contains("temperature") && !series.1.contains("latitude"))
                #expect(try await Self.get(client, "/integration/v1/devices/school-1/latest", as: "care-reader").0 == 404)
                #expect(try await Self.get(client, "/integration/v1/devices/care-1/latest", as: "all").1.contains("position"))

                // Alarms: the tenant's, within the clearance.
                let readerAlarms = try await Self.get(client, "/integration/v1/alarms", as: "care-reader")
                #expect(readerAlarms.1.contains("low_battery") && !readerAlarms.1.contains(#""sos""#) && !readerAlarms.1.contains("tamper"))
                let operatorAlarms = try await Self.get(client, "/integration/v1/alarms", as: "care-operator")
                #expect(operatorAlarms.1.contains(#""sos""#) && !operatorAlarms.1.contains("tamper"))
                #expect(try await Self.get(client, "/integration/v1/alarms/3", as: "care-operator").0 == 404)
                #expect(try await Self.get(client, "/integration/v1/alarms/1", as: "care-reader").0 == 404)
                let ack = try await client.execute(uri: "/integration/v1/alarms/3/acknowledge", method: .post,
                                                   headers: [.authorization: "Bearer care-operator"],
                                                   body: ByteBuffer(string: #"{"operator":"op-1"}"#)) { Int($0.status.code) }
                #expect(ack == 404)
            }
        }
    
        @Test("reads of class 2 and 3 data leave audit records that only auditors read and nobody can change")
        func auditTrail() async throws {
            try await Self.withApp { client, trail, database in
                _ = try await Self.get(client, "/integration/v1/devices/care-1/latest", as: "all")          // class 3
                _ = try await Self.get(client, "/integration/v1/devices/care-1/latest", as: "care-reader")  // class 1 only
                _ = try await Self.get(client, "/iot/v1/devices/care-1", as: "all")                         // with cr-1
                _ = try await Self.get(client, "/integration/v1/models", as: "care-reader")                 // open
                await trail.flush()
                #expect(try await Self.get(client, "/integration/v1/audit", as: "all").0 == 200)
                #expect(try await Self.get(client, "/integration/v1/audit", as: "care-admin").0 == 403)
                await trail.flush()
                let (status, body) = try await Self.get(client, "/integration/v1/audit?client=all", as: "auditor")
                #expect(status == 200)
                let items = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["items"] as? [[String: Any]] ?? []
                let endpoints = items.compactMap { $0["endpoint"] as? String }
                #expect(endpoints.contains("/integration/v1/devices/{deviceId}/latest"), "\(items)")
                #expect(endpoints.contains("/iot/v1/devices/{deviceId}"))
                let latest = try #require(items.first { $0["endpoint"] as? String == "/integration/v1/devices/{deviceId}/latest" })
                #expect(latest["records"] as? Int == 3 && latest["dataClass"] as? Int == 3 && latest["status"] as? Int == 200)
                #expect((latest["subjects"] as? [String]) == ["care-1"])
                // By subject: the care-recipient reference finds the read that returned it.
                let bySubject = try await Self.get(client, "/integration/v1/audit?subject=cr-1", as: "auditor")
                #expect(bySubject.1.contains("/iot/v1/devices/{deviceId}"))
                // Class-1 reads are not audited.
                #expect(try database.count("SELECT count(*) FROM audit_log WHERE client = 'care-reader'") == 0)
                // Append-only.
                let connection = try database.connect()
                defer { connection.close() }
                #expect(throws: (any Error).self) { try connection.execute("UPDATE audit_log SET client = 'x'") }
                #expect(throws: (any Error).self) { try connection.execute("DELETE FROM audit_log") }
                #expect(throws: (any Error).self) { try connection.execute("TRUNCATE audit_log") }
            }
        }
    
        @Test("the NGSI-LD facade serves open values only, with JSON-LD context handling and NGSI-LD errors")
        func ngsiLD() async throws {
            try await Self.withApp { client, _, _ in
                func get(_ uri: String, accept: String = "application/json") async throws -> (Int, String, String?) {
                    try await client.execute(uri: uri, method: .get,
                                             headers: [.authorization: "Bearer public", .accept: accept]) { response in
                        (Int(response.status.code), String(buffer: response.body), response.headers[HTTPTypes.HTTPField.Name("Link")!])
                    }
                }
                let (status, body, link) = try await get("/ngsi-ld/v1/entities?type=Device")
                #expect(status == 200)
                #expect(body.contains("urn:ngsi-ld:Device:care-1") && body.contains(#""temperature""#))
                #expect(!body.contains("battery") && !body.contains("position") && !body.contains("latitude") && !body.contains("cr-1"))
                #expect(link?.contains("/ngsi-ld/v1/jsonldContexts/cip-context.jsonld") == true)
                let ld = try await get("/ngsi-ld/v1/entities/urn:ngsi-ld:Device:care-1", accept: "application/ld+json")
                #expect(ld.0 == 200 && ld.1.contains("@context") && ld.2 == nil)
                #expect(try await get("/ngsi-ld/v1/entities?type=Device&q=temperature>20").1.contains("care-1"))
                #expect(try await get("/ngsi-ld/v1/entities?type=Device&q=temperature>30").1 == "[]")
                // battery is class 2: not an attribute of this tier, so nothing matches.
                #expect(try await get("/ngsi-ld/v1/entities?type=Device&q=battery>1").1 == "[]")
                let badQ = try await get("/ngsi-ld/v1/entities?type=Device&q=temperature>>1")
                #expect(badQ.0 == 400 && badQ.1.contains("https://uri.etsi.org/ngsi-ld/errors/BadRequestData"))
                #expect(try await get("/ngsi-ld/v1/entities?type=Device&limit=1000").0 == 403)
                #expect(try await get("/ngsi-ld/v1/entities").0 == 400)
                let missing = try await get("/ngsi-ld/v1/entities/urn:ngsi-ld:Device:school-1")
                #expect(missing.0 == 404 && missing.1.contains("ResourceNotFound"))
                let temporal = try await get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Device:care-1?lastN=5")
                #expect(temporal.0 == 200 && temporal.1.contains(#""temperature":[{"#) && !temporal.1.contains("latitude"))
                #expect(try await get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Device:care-1?timerel=between&timeAt=2020-01-01T00:00:00Z").0 == 400)
                #expect(try await get("/ngsi-ld/v1/types").1.contains(#""typeList":["Device"]"#))
                // Other roles do not reach the facade, and the facade does not reach the other tiers.
                let admin = try await client.execute(uri: "/ngsi-ld/v1/types", method: .get, headers: [.authorization: "Bearer care-admin"]) { Int($0.status.code) }
                #expect(admin == 403)
                #expect(try await get("/integration/v1/devices/care-1/latest").0 == 403)
            }
        }
    }
}
