import Foundation
import Testing

extension IntegrationTests {
    /// Subject access and unlinking on the real stack (issue 14): a device's data is its care recipient's only while
    /// it was linked to them; the export holds exactly that, and is itself audited.
    @Suite(.serialized) struct SubjectAccess {
        @Test("the export holds the data of the recipient's link windows only; a moved device's later data goes to the next recipient")
        func linksDecideAttribution() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            try gateway.start()
            try await gateway.waitUntilReady()
            let admin = try gateway.createClient(name: "sa-admin", roles: "device-admin", clearance: 3)
            let privacy = try gateway.createClient(name: "sa-privacy", roles: "privacy-officer", clearance: 3)
            let privacyNorth = try gateway.createClient(name: "sa-privacy-north", roles: "privacy-officer", tenants: "north", clearance: 3)

            // A GPS alarm registered for cr-sa-1 (through the API, as a care organisation does).
            let registered = try gateway.httpSend("POST", "/iot/v1/devices", json: """
                {"deviceId":"sa-gps","serialNumber":"SN-SA-GPS","type":"gps-alarm","tenant":"test","careRecipientRef":"cr-sa-1"}
                """, token: admin)
            #expect(registered.status == 201, "\(registered.body)")
            let owner = try database.connect()
            defer { owner.close() }
            try owner.execute("UPDATE devices SET lifecycle_state = 'active' WHERE device_id = 'sa-gps'")
            // Positions while with cr-sa-1...
            try owner.execute("""
                INSERT INTO observations (device_id, quantity, value_number, observed_at, received_at, message_key, record_index, confidentiality)
                VALUES ('sa-gps', 'latitude', 57.1, clock_timestamp(), now(), '\\x01', 0, 3);
                INSERT INTO events (device_id, event, observed_at, received_at, confidentiality, message_key, source_path)
                VALUES ('sa-gps', 'sos', clock_timestamp(), now(), 3, '\\x01', '/sos');
                """)
            try await Task.sleep(for: .milliseconds(20))
            // ...then the device moves to cr-sa-2 (PATCH), and reports again.
            let moved = try gateway.httpSend("PATCH", "/iot/v1/devices/sa-gps", json: #"{"careRecipientRef":"cr-sa-2"}"#, token: admin)
            #expect(moved.status == 200, "\(moved.body)")
            try await Task.sleep(for: .milliseconds(20))
            try owner.execute("""
                INSERT INTO observations (device_id, quantity, value_number, observed_at, received_at, message_key, record_index, confidentiality)
                VALUES ('sa-gps', 'latitude', 57.2, clock_timestamp(), now(), '\\x02', 0, 3);
                """)

            func export(_ ref: String, token: String) throws -> [String: Any] {
                let reply = try gateway.httpGet("/integration/v1/subjects/\(ref)", token: token)
                #expect(reply.status == 200, "\(reply.body)")
                return try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any], "\(reply.body)")
            }
            let first = try export("cr-sa-1", token: privacy)
            #expect(first["complete"] as? Bool == true)
            let links = try #require(first["links"] as? [[String: Any]])
            #expect(links.count == 1)
            #expect(links.first?["deviceId"] as? String == "sa-gps")
            #expect(links.first?["unlinkedAt"] is String, "the link closed when the reference changed")
            #expect((first["observations"] as? [[String: Any]])?.compactMap { $0["value"] as? Double } == [57.1])
            #expect((first["events"] as? [[String: Any]])?.compactMap { $0["event"] as? String } == ["sos"])
            let second = try export("cr-sa-2", token: privacy)
            #expect((second["observations"] as? [[String: Any]])?.compactMap { $0["value"] as? Double } == [57.2])
            #expect((second["links"] as? [[String: Any]])?.first?["unlinkedAt"] == nil, "still linked")

            // Decommissioned: the link closes; later data is nobody's.
            let decommissioned = try gateway.httpSend("POST", "/iot/v1/devices/sa-gps/decommission", json: #"{"reason":"returned"}"#, token: admin)
            #expect(decommissioned.status == 200, "\(decommissioned.body)")
            #expect(try database.count("SELECT count(*) FROM care_recipient_links WHERE unlinked_at IS NULL") == 0)

            // Who read cr-sa-1's data: the export itself is in the trail, and a later export lists it.
            let again = try export("cr-sa-1", token: privacy)
            let readers = try #require(again["auditEntries"] as? [[String: Any]])
            #expect(readers.contains { ($0["client"] as? String) == "sa-privacy" && ($0["endpoint"] as? String) == "/integration/v1/subjects/{careRecipientRef}" },
                    "\(readers)")
            // A client of another tenant sees no link of this one's devices.
            let other = try export("cr-sa-1", token: privacyNorth)
            #expect((other["links"] as? [Any])?.isEmpty == true)
            #expect((other["observations"] as? [Any])?.isEmpty == true)
        }
    }
}
