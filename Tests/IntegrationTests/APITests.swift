import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import Postgres
import Registry
import Storage
import Testing
import Telemetry

extension IntegrationTests {
    /// The read API over a real database filled through the real write path.
    @Suite(.serialized) struct API {
        static let base: Int64 = 1_760_000_000_000_000

        /// 250 observations of lock-7 (battery and lock_state alternating, one per second), one raw message
        /// per record, and three dead letters.
        static func seed(_ database: TestDatabase) throws {
            let normalizer = Normalizer()
            let devices = ["lock-7": DeviceProfile(type: "digital-lock", model: nil, state: "active")]
            var batch = IngestBatch()
            for index in 0..<250 {
                let quantity = index % 2 == 0 ? #""n":"battery","u":"%","v":\#(index)"# : #""n":"lock_state","vs":"s\#(index)""#
                let payload = #"[{"bt":\#(Double(base) / 1e6 + Double(index)),\#(quantity)}]"#
                let record = JournalRecord(sequence: UInt64(index + 1), receivedAtMicros: base + 500_000_000,
                                           topic: "devices/lock-7/telemetry", payload: Array(payload.utf8))
                let output = normalizer.normalize(record, devices: devices)
                batch.observations += output.observations
                batch.rawMessages.append(output.rawMessage)
            }
            for index in 0..<3 {
                let output = normalizer.normalize(JournalRecord(sequence: UInt64(1_000 + index), receivedAtMicros: base + Int64(index),
                                                                topic: "devices/lock-7/telemetry", payload: Array("nope \(index)".utf8)),
                                                  devices: devices)
                batch.deadLetters += output.deadLetters
                batch.rawMessages.append(output.rawMessage)
            }
            try IngestStore().write(batch, latest: batch.observations, on: try database.connect())
        }

        static func withApp(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try seed(database)
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let router = buildRouter(APIDependencies(catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                                                    devices: PostgresDeviceRepository(pool: pool)))
            try await Application(router: router).test(.router, body)
        }

        struct PageBody: Decodable {
            struct Item: Decodable {
                var quantity: String?
                var observedAt: String?
                var valueType: String?
                var reason: String?
            }
            var items: [Item]
            var nextCursor: String?
        }

        struct ProblemBody: Decodable {
            var type: String
            var title: String
            var status: Int
            var detail: String
            var parameter: String?
        }

        @Test("observations page newest first with an opaque cursor, and every record is seen exactly once")
        func paginates() async throws {
            try await Self.withApp { client in
                var seen: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let path = "/integration/v1/devices/lock-7/observations?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.execute(uri: path, method: .get) { response in
                        #expect(response.status == .ok)
                        return try JSONDecoder().decode(PageBody.self, from: Data(buffer: response.body))
                    }
                    seen += page.items.compactMap(\.observedAt)
                    cursor = page.nextCursor
                    pages += 1
                } while cursor != nil && pages < 10
                #expect(pages == 3)
                #expect(seen.count == 250)
                #expect(Set(seen).count == 250)
                #expect(seen == seen.sorted(by: >))
                #expect(seen.first == "2025-10-09T08:57:29.000000Z")
            }
        }

        @Test("quantity, from and to filter the observations")
        func filters() async throws {
            try await Self.withApp { client in
                let path = "/integration/v1/devices/lock-7/observations?quantity=battery&from=2025-10-09T08:53:30Z&to=2025-10-09T08:53:40Z"
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    let page = try JSONDecoder().decode(PageBody.self, from: Data(buffer: response.body))
                    #expect(page.items.count == 5)
                    #expect(page.items.allSatisfy { $0.quantity == "battery" && $0.valueType == "number" })
                    #expect(page.nextCursor == nil)
                }
            }
        }

        @Test("latest has one value per quantity, the newest")
        func latest() async throws {
            try await Self.withApp { client in
                try await client.execute(uri: "/integration/v1/devices/lock-7/latest", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = String(buffer: response.body)
                    #expect(body.contains(#""quantity":"battery""#))
                    #expect(body.contains(#""value":248"#))
                    #expect(body.contains(#""value":"s249""#))
                }
            }
        }

        @Test("raw messages and dead letters are listed for troubleshooting")
        func iotTier() async throws {
            try await Self.withApp { client in
                try await client.execute(uri: "/iot/v1/devices/lock-7/messages?limit=5", method: .get) { response in
                    #expect(response.status == .ok)
                    let page = try JSONDecoder().decode(PageBody.self, from: Data(buffer: response.body))
                    #expect(page.items.count == 5)
                }
                let first = try await client.execute(uri: "/iot/v1/dead-letters?limit=2", method: .get) { response in
                    #expect(response.status == .ok)
                    // Refused as a whole message: no record index (the table keeps -1 for it).
                    #expect(!String(buffer: response.body).contains("recordIndex"), "\(String(buffer: response.body))")
                    return try JSONDecoder().decode(PageBody.self, from: Data(buffer: response.body))
                }
                #expect(first.items.count == 2)
                #expect(first.items.allSatisfy { $0.reason?.contains("invalid SenML") == true })
                let cursor = try #require(first.nextCursor)
                try await client.execute(uri: "/iot/v1/dead-letters?limit=2&cursor=\(cursor)", method: .get) { response in
                    let page = try JSONDecoder().decode(PageBody.self, from: Data(buffer: response.body))
                    #expect(page.items.count == 1)
                    #expect(page.nextCursor == nil)
                }
            }
        }

        @Test("bad parameters are 400 problem+json naming the parameter", arguments: [
            ("/integration/v1/devices/lock-7/observations?limit=0", "limit"),
            ("/integration/v1/devices/lock-7/observations?limit=abc", "limit"),
            ("/integration/v1/devices/lock-7/observations?limit=100000", "limit"),
            ("/integration/v1/devices/lock-7/observations?from=yesterday", "from"),
            ("/integration/v1/devices/lock-7/observations?from=2025-13-01T00:00:00Z", "from"),
            ("/integration/v1/devices/lock-7/observations?from=2025-10-09T10:00:00Z&to=2025-10-09T09:00:00Z", "to"),
            ("/integration/v1/devices/lock-7/observations?cursor=not-a-cursor", "cursor"),
            ("/integration/v1/devices/lock-7/observations?quantity=" + String(repeating: "q", count: 300), "quantity"),
            ("/integration/v1/devices/bad%20id/latest", "deviceId"),
            ("/iot/v1/dead-letters?cursor=%27%20OR%201=1--", "cursor"),
        ])
        func badParameters(path: String, parameter: String) async throws {
            try await Self.withApp { client in
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let problem = try JSONDecoder().decode(ProblemBody.self, from: Data(buffer: response.body))
                    #expect(problem.status == 400)
                    #expect(problem.parameter == parameter)
                    #expect(!problem.detail.isEmpty)
                }
            }
        }

        @Test("unknown devices and routes are 404 problem+json")
        func notFound() async throws {
            try await Self.withApp { client in
                for path in ["/integration/v1/devices/nobody/latest", "/integration/v1/devices/nobody/observations",
                             "/iot/v1/devices/nobody/messages", "/no/such/route"] {
                    try await client.execute(uri: path, method: .get) { response in
                        #expect(response.status == .notFound, "\(path)")
                        #expect(response.headers[.contentType] == "application/problem+json")
                    }
                }
            }
        }
    }
}

extension IntegrationTests.API {
    @Test("the catalogue is served whole, per device type and per quantity")
    func models() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/integration/v1/models", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                for id in ["digital-lock", "gps-alarm", "safety-alarm", "sensor", "lock_state", "sos", "false_alarm"] {
                    #expect(body.contains(#""id":"\#(id)""#), "\(id)")
                }
            }
            try await client.execute(uri: "/integration/v1/models/device-types/gps-alarm", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains(#""id":"latitude""#))
                #expect(body.contains(#""id":"sos""#))
                #expect(!body.contains(#""id":"lock_state""#))
            }
            try await client.execute(uri: "/integration/v1/models/quantities/battery", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""unit":"%""#))
            }
            try await client.execute(uri: "/integration/v1/models/device-types/toaster", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/integration/v1/models/quantities/Bad%20Id", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}
