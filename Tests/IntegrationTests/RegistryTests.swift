import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Registry
import Storage
import Testing

extension IntegrationTests {
    /// Registration, listing and lifecycle through the IoT API, on a real database.
    @Suite(.serialized) struct DeviceRegistry {
        static func withApp(_ body: @escaping @Sendable (any TestClientProtocol, TestDatabase) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let router = buildRouter(APIDependencies(catalogue: try TestStack.catalogue(),
                                                     telemetry: PostgresTelemetryRepository(pool: pool),
                                                     devices: PostgresDeviceRepository(pool: pool)))
            try await Application(router: router).test(.router) { client in try await body(client, database) }
        }

        static func json(_ object: [String: Any]) -> ByteBuffer {
            ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
        }

        static var lock: [String: Any] { [
            "deviceId": "lock-100", "serialNumber": "NL200-000100", "type": "digital-lock", "vendor": "Nordlock",
            "model": "nordlock-nl200", "tenant": "elderly-care", "careRecipientRef": "cr-7f3a9", "tags": ["pilot", "north"],
        ] }

        struct Body: Decodable {
            struct DeviceJSON: Decodable { var deviceId: String; var lifecycleState: String; var tags: [String] }
            var device: DeviceJSON?
            var claimCode: String?
            var items: [DeviceJSON]?
            var nextCursor: String?
            var detail: String?
            var lifecycleState: String?
        }

        static func decode(_ response: TestResponse) throws -> Body {
            try JSONDecoder().decode(Body.self, from: Data(buffer: response.body))
        }

        @Test("a registered device gets a one-time claim code, is listed, and its history starts")
        func registers() async throws {
            try await Self.withApp { client, database in
                let created = try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(Self.lock)) { response in
                    #expect(response.status == .created)
                    return try Self.decode(response)
                }
                #expect(created.device?.lifecycleState == "registered")
                #expect(created.device?.tags == ["pilot", "north"])
                let code = try #require(created.claimCode)
                #expect(ClaimCode.isWellFormed(code))
                // Only a salted hash is stored, never the code.
                #expect(try database.count("SELECT count(*) FROM devices WHERE claim_code_hash IS NOT NULL AND position(convert_to($1, 'UTF8') in claim_code_hash) = 0", [code]) == 1)

                try await client.execute(uri: "/iot/v1/devices/lock-100", method: .get) { response in
                    #expect(response.status == .ok)
                    let state = try Self.decode(response).lifecycleState
                    #expect(state == "registered")
                }
                try await client.execute(uri: "/iot/v1/devices/lock-100/history", method: .get) { response in
                    #expect(String(buffer: response.body).contains(#""action":"register""#))
                }
                try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(Self.lock)) { response in
                    #expect(response.status == .conflict)
                    let detail = try Self.decode(response).detail
                    #expect(detail?.contains("already registered") == true)
                }
            }
        }

        @Test("registration refuses a personal identity number, an unknown type and a bad id with 400")
        func validates() async throws {
            try await Self.withApp { client, _ in
                for (field, value, reason) in [("careRecipientRef", "19121212-1212", "personal identity number"),
                                               ("type", "toaster", "unknown type"),
                                               ("deviceId", "bad id", "device_id")] {
                    var device = Self.lock
                    device[field] = value
                    try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(device)) { response in
                        #expect(response.status == .badRequest, "\(field)")
                        #expect(response.headers[.contentType] == "application/problem+json")
                        let detail = try Self.decode(response).detail
                        #expect(detail?.contains(reason) == true, "\(field)")
                    }
                }
            }
        }

        @Test("illegal lifecycle changes are 409 naming the state and the allowed actions; history is append-only")
        func lifecycle() async throws {
            try await Self.withApp { client, database in
                _ = try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(Self.lock)) { $0.status }
                try await client.execute(uri: "/iot/v1/devices/lock-100/resume", method: .post) { response in
                    #expect(response.status == .conflict)
                    let detail = try Self.decode(response).detail
                    #expect(detail == "cannot resume a device that is registered; allowed: provision, decommission")
                }
                try await client.execute(uri: "/iot/v1/devices/lock-100/decommission", method: .post) { response in
                    #expect(response.status == .badRequest)
                }
                try await client.execute(uri: "/iot/v1/devices/lock-100/decommission", method: .post,
                                         body: Self.json(["reason": "returned to vendor", "actor": "admin-7"])) { response in
                    #expect(response.status == .ok)
                    let state = try Self.decode(response).lifecycleState
                    #expect(state == "decommissioned")
                }
                try await client.execute(uri: "/iot/v1/devices/lock-100/resume", method: .post) { response in
                    #expect(response.status == .conflict)
                    let detail = try Self.decode(response).detail
                    #expect(detail?.contains("terminal") == true)
                }
                try await client.execute(uri: "/iot/v1/devices/nobody/suspend", method: .post) { response in
                    #expect(response.status == .notFound)
                }
                try await client.execute(uri: "/iot/v1/devices/lock-100/suspend", method: .post,
                                         body: ByteBuffer(string: "{not json")) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                try await client.execute(uri: "/iot/v1/devices/lock-100/suspend", method: .post,
                                         body: ByteBuffer(repeating: 0x20, count: 100_000)) { response in
                    #expect(response.status == .contentTooLarge)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                #expect(try database.count("SELECT count(*) FROM device_history WHERE device_id = 'lock-100'") == 2)
                #expect(try database.count("SELECT count(*) FROM device_history WHERE actor = 'admin-7' AND reason = 'returned to vendor'") == 1)
                #expect(throws: PostgresError.self) {
                    try database.connect().query("UPDATE device_history SET actor = 'someone else'")
                }
                #expect(throws: PostgresError.self) { try database.connect().query("DELETE FROM device_history") }
                #expect(throws: PostgresError.self) { try database.connect().execute("TRUNCATE device_history CASCADE") }
                #expect(try database.count("SELECT count(*) FROM device_history WHERE device_id = 'lock-100'") == 2)
            }
        }

        @Test("resume returns a device to the state it was suspended from: provisioned stays provisioned")
        func resumeReturnsToTheSuspendedFromState() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["boxed"], state: "provisioned")
            try database.register(["running"], state: "active")
            let repository = PostgresDeviceRepository(pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger))
            for id in ["boxed", "running"] {
                _ = try await repository.apply(.suspend, to: id, actor: "test", reason: nil)
            }
            #expect(try await repository.apply(.resume, to: "boxed", actor: "test", reason: nil).lifecycleState == .provisioned)
            #expect(try await repository.apply(.resume, to: "running", actor: "test", reason: nil).lifecycleState == .active)
            // A second round remembers the latest suspension, not the first.
            _ = try await repository.apply(.activate, to: "boxed", actor: "gateway", reason: nil)
            _ = try await repository.apply(.suspend, to: "boxed", actor: "test", reason: nil)
            #expect(try await repository.apply(.resume, to: "boxed", actor: "test", reason: nil).lifecycleState == .active)
        }

        @Test("a first message activates provisioned devices through the lifecycle, and leaves any other state alone")
        func firstMessageActivation() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try database.register(["fresh"], state: "provisioned")
            try database.register(["paused"], state: "suspended")
            try database.register(["running"], state: "active")
            let repository = PostgresDeviceRepository(pool: PostgresPool(url: database.url, size: 1, logger: TestStack.logger))
            try await repository.activateOnFirstMessage(["fresh", "paused", "running", "unknown"])
            #expect(try await repository.device("fresh")?.lifecycleState == .active)
            #expect(try await repository.device("paused")?.lifecycleState == .suspended)
            #expect(try await repository.device("running")?.lifecycleState == .active)
            #expect(try database.count("SELECT count(*) FROM device_history WHERE device_id = 'fresh' AND action = 'activate' AND actor = 'gateway'") == 1)
            #expect(try database.count("SELECT count(*) FROM device_history WHERE action = 'activate'") == 1)
        }

        @Test("CSV import answers per row; atomic imports register nothing when a row is bad")
        func imports() async throws {
            try await Self.withApp { client, database in
                let csv = """
                    device_id,serial_number,type,tenant,care_recipient_ref,tags
                    gps-1,SN-1,gps-alarm,elderly-care,cr-1,a;b
                    gps-2,SN-2,gps-alarm,elderly-care,121212-1212,
                    gps-3,SN-3,toaster,elderly-care,,
                    gps-4,SN-1,gps-alarm,elderly-care,,
                    gps-5,SN-5,safety-alarm,home-care,,

                    """
                try await client.execute(uri: "/iot/v1/devices/import?atomic=true", method: .post, body: ByteBuffer(string: csv)) { response in
                    #expect(response.status == .ok)
                    let body = String(buffer: response.body)
                    #expect(body.contains(#""registered":[]"#))
                }
                #expect(try database.count("SELECT count(*) FROM devices") == 0)
                try await client.execute(uri: "/iot/v1/devices/import", method: .post, body: ByteBuffer(string: csv)) { response in
                    let body = String(buffer: response.body)
                    #expect(body.contains(#""line":3"#) && body.contains("personal identity number"))
                    #expect(body.contains(#""line":4"#) && body.contains("unknown type"))
                    #expect(body.contains(#""line":5"#) && body.contains("first on line 2"))
                }
                #expect(try database.count("SELECT count(*) FROM devices") == 2)
                try await client.execute(uri: "/iot/v1/devices?type=gps-alarm", method: .get) { response in
                    let ids = try Self.decode(response).items?.map(\.deviceId)
                    #expect(ids == ["gps-1"])
                }
                try await client.execute(uri: "/iot/v1/devices?state=flying", method: .get) { response in
                    #expect(response.status == .badRequest)
                }
            }
        }

        @Test("serial numbers with quotes, backslashes and commas are stored exactly")
        func awkwardSerials() async throws {
            try await Self.withApp { client, database in
                let serial = #"AB"12\3,{x}"#
                var device = Self.lock
                device["serialNumber"] = serial
                try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(device)) { response in
                    #expect(response.status == .created)
                }
                #expect(try database.count("SELECT count(*) FROM devices WHERE serial_number = $1", [serial]) == 1)
                try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(device)) { response in
                    #expect(response.status == .conflict)
                }
            }
        }

        @Test("10,000 devices register in one import and list page by page")
        func bulk() async throws {
            try await Self.withApp { client, database in
                var csv = "device_id,serial_number,type,tenant\n"
                for index in 0..<10_000 { csv += "lock-\(String(format: "%05d", index)),SN\(index),digital-lock,elderly-care\n" }
                try await client.execute(uri: "/iot/v1/devices/import", method: .post, body: ByteBuffer(string: csv)) { response in
                    #expect(response.status == .ok)
                }
                #expect(try database.count("SELECT count(*) FROM devices") == 10_000)
                #expect(try database.count("SELECT count(*) FROM device_history") == 10_000)
                var seen = 0
                var cursor: String?
                repeat {
                    let page = try await client.execute(uri: "/iot/v1/devices?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""), method: .get) {
                        try Self.decode($0)
                    }
                    seen += page.items?.count ?? 0
                    cursor = page.nextCursor
                } while cursor != nil && seen < 20_000
                #expect(seen == 10_000)
            }
        }
    
        @Test("PATCH changes metadata only, refuses identity changes and personal identity numbers, and is in the history")
        func patchesMetadata() async throws {
            try await Self.withApp { client, database in
                try await client.execute(uri: "/iot/v1/devices", method: .post, body: Self.json(Self.lock)) { #expect($0.status == .created) }
                try await client.execute(uri: "/iot/v1/devices/lock-100", method: .patch,
                                         body: Self.json(["placement": "Storgatan 1, entrance", "tags": ["moved"], "model": "", "actor": "admin-7"])) { response in
                    #expect(response.status == .ok)
                    let body = String(buffer: response.body)
                    #expect(body.contains(#""placement":"Storgatan 1, entrance""#))
                    #expect(body.contains(#""tags":["moved"]"#))
                    #expect(!body.contains(#""model""#))
                    #expect(body.contains(#""connectivity":"unknown""#))
                }
                #expect(try database.count("SELECT count(*) FROM device_history WHERE device_id = 'lock-100' AND action = 'update' AND actor = 'admin-7' AND reason = 'changed: model, placement, tags'") == 1)
                for (patch, fragment) in [(["serialNumber": "X"], "cannot change"), (["careRecipientRef": "19121212-1212"], "personal identity number"),
                                          (["lifecycleState": "active"], "/suspend"), ([:], "changes nothing")] as [([String: Any], String)] {
                    try await client.execute(uri: "/iot/v1/devices/lock-100", method: .patch, body: Self.json(patch)) { response in
                        #expect(response.status == .badRequest)
                        #expect(String(buffer: response.body).contains(fragment), "\(patch)")
                    }
                }
                try await client.execute(uri: "/iot/v1/devices/nope-1", method: .patch, body: Self.json(["placement": "x"])) {
                    #expect($0.status == .notFound)
                }
            }
        }

        @Test("the fleet view counts by type, state and connectivity, lists low batteries and firmware; unknown ids are listed and paged")
        func fleetAndUnknownDevices() async throws {
            try await Self.withApp { client, database in
                try database.register(["s-1", "s-2", "s-3"])
                try database.register(["l-1"], type: "digital-lock", state: "suspended")
                let connection = try database.connect()
                defer { connection.close() }
                try connection.execute("""
                    INSERT INTO device_status (device_id, connectivity, last_seen, battery, reported_firmware) VALUES
                        ('s-1', 'online', now(), 12, '2.1.0'), ('s-2', 'offline', now(), 55, '2.1.0'), ('l-1', 'online', now(), 5, '1.0');
                    INSERT INTO unknown_devices VALUES
                        ('x-1', now() - interval '2 hours', now() - interval '1 hour', 3, 'devices/x-1/telemetry'),
                        ('x-2', now() - interval '2 hours', now(), 7, 'devices/x-2/events'),
                        ('x-3', now() - interval '3 hours', now() - interval '2 hours', 1, 'devices/x-3/status');
                    """)
                try await client.execute(uri: "/iot/v1/fleet", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                    #expect(body["total"] as? Int == 4)
                    #expect(body["byType"] as? [String: Int] == ["sensor": 3, "digital-lock": 1])
                    #expect(body["byState"] as? [String: Int] == ["active": 3, "suspended": 1])
                    #expect(body["byConnectivity"] as? [String: Int] == ["online": 2, "offline": 1, "unknown": 1])
                    #expect(body["firmwareVersions"] as? [String: Int] == ["2.1.0": 2, "1.0": 1])
                    let low = (body["lowBattery"] as? [[String: Any]])?.compactMap { $0["deviceId"] as? String }
                    #expect(low == ["l-1", "s-1"])
                }
                let filtered = try await client.execute(uri: "/iot/v1/devices?connectivity=online&q=S-", method: .get) { response in
                    try Self.decode(response).items?.map(\.deviceId)
                }
                #expect(filtered == ["s-1"])
                try await client.execute(uri: "/iot/v1/devices?connectivity=sideways", method: .get) { #expect($0.status == .badRequest) }
                try await client.execute(uri: "/iot/v1/fleet?lowBattery=200", method: .get) { #expect($0.status == .badRequest) }
                let page = try await client.execute(uri: "/iot/v1/unknown-devices?limit=2", method: .get) { response in
                    #expect(response.status == .ok)
                    return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                }
                let ids = (page?["items"] as? [[String: Any]])?.compactMap { $0["deviceId"] as? String }
                #expect(ids == ["x-2", "x-1"])
                let cursor = try #require(page?["nextCursor"] as? String)
                let rest = try await client.execute(uri: "/iot/v1/unknown-devices?limit=2&cursor=\(cursor)", method: .get) { response in
                    try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                }
                #expect((rest?["items"] as? [[String: Any]])?.compactMap { $0["messageCount"] as? Int } == [1])
                #expect(rest?["nextCursor"] == nil)
            }
        }
    }
}
