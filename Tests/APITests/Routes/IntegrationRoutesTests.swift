import Alarms
import Hummingbird
import Testing
import Telemetry

/// `/integration/v1/devices/{id}/observations|latest` and `/integration/v1/alarms`: clearance and tenant scope.
@Suite struct IntegrationRoutesTests {
    static let base: Int64 = 1_760_000_000_000_000

    /// lock-1 (north): battery (class 1) and lock_state (class 2) every second, a position (class 3) at the end.
    static func seed(_ harness: Harness) async throws {
        try await harness.register("lock-1")
        try await harness.register("quiet-1")
        var values: [Observation] = []
        for index in 0..<10 {
            let battery = index % 2 == 0
            values.append(Observation(deviceID: "lock-1", quantity: battery ? "battery" : "lock_state",
                                      value: battery ? .number(Double(90 - index)) : .string("locked-\(index)"), sum: nil,
                                      unit: battery ? "%" : nil, observedAtMicros: base + Int64(index) * 1_000_000,
                                      receivedAtMicros: base + 20_000_000, messageKey: [UInt8(index)], recordIndex: 0,
                                      confidentiality: battery ? 1 : 2))
        }
        values.append(Observation(deviceID: "lock-1", quantity: "position", value: .string("59.3,18.0"), sum: nil, unit: nil,
                                  observedAtMicros: base + 30_000_000, receivedAtMicros: base + 30_000_000,
                                  messageKey: [0xff], recordIndex: 0, confidentiality: 3))
        harness.telemetry.store(values)
    }

    @Test("the catalogue (whole, a quantity, a device type) and the OpenAPI document are served from one encoding with an ETag; a client that has it gets 304 and no body")
    func staticDocuments() async throws {
        let harness = Harness()
        try await harness.test { client async throws in
            for (path, token) in [("/integration/v1/models", "reader" as String?), ("/openapi.json", nil),
                                  ("/integration/v1/models/quantities/temperature", "reader"),
                                  ("/integration/v1/models/device-types/safety-alarm", "reader")] {
                var headers = HTTPFields()
                if let token { headers[.authorization] = "Bearer \(token)" }
                let (status, etag, body) = try await client.execute(uri: path, method: .get, headers: headers) { response in
                    (response.status, response.headers[.eTag], String(buffer: response.body))
                }
                #expect(status == .ok)
                let tag = try #require(etag, "\(path) has no ETag")
                #expect(body.hasPrefix("{"))
                let again = try await client.execute(uri: path, method: .get, headers: headers) { String(buffer: $0.body) }
                #expect(again == body, "\(path) changed between two requests")
                var conditional = headers
                conditional[.ifNoneMatch] = "\"other\", \(tag)"
                let (notModified, emptyBody) = try await client.execute(uri: path, method: .get, headers: conditional) { response in
                    (response.status, response.body.readableBytes)
                }
                #expect(notModified == .notModified)
                #expect(emptyBody == 0)
                conditional[.ifNoneMatch] = "\"stale-1\""
                #expect(try await client.execute(uri: path, method: .get, headers: conditional) { $0.status } == .ok)
            }
            // The catalogue is still behind the token: the cached document is no way around the access rule.
            let (anonymous) = try await client.execute(uri: "/integration/v1/models", method: .get, headers: [:]) { $0.status }
            #expect(anonymous == .unauthorized)
        }
    }

    @Test("observations page newest first; each page holds only values within the client's clearance")
    func observationsByClearance() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client async throws in
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let reply = try await client.call(.get, "/integration/v1/devices/lock-1/observations?limit=4"
                                                  + (cursor.map { "&cursor=\($0)" } ?? ""), token: "reader-2")
                #expect(reply.status == .ok)
                seen += reply.strings("observedAt")
                #expect(!reply.strings("quantity").contains("position"))
                cursor = reply.json["nextCursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(seen.count == 10)
            #expect(seen == seen.sorted(by: >))

            let all = try await client.call(.get, "/integration/v1/devices/lock-1/observations", token: "reader")
            #expect(all.items.count == 11)
            #expect(all.strings("quantity").first == "position")
            let battery = try await client.call(.get, "/integration/v1/devices/lock-1/observations?quantity=battery", token: "reader")
            #expect(Set(battery.strings("quantity")) == ["battery"])
            #expect(battery.items.count == 5)
        }
    }

    @Test("latest is the newest value per quantity up to the clearance; other tenants and silent devices are 404")
    func latestByClearanceAndTenant() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client async throws in
            let full = try await client.call(.get, "/integration/v1/devices/lock-1/latest", token: "reader")
            #expect(full.strings("quantity") == ["battery", "lock_state", "position"])
            #expect(full.items.first?["value"] as? Double == 82)
            #expect(full.items[1]["value"] as? String == "locked-9")

            let cleared = try await client.call(.get, "/integration/v1/devices/lock-1/latest", token: "reader-2")
            #expect(cleared.strings("quantity") == ["battery", "lock_state"])

            let otherTenant = try await client.call(.get, "/integration/v1/devices/lock-1/latest", token: "reader-south")
            #expect(otherTenant.status == .notFound)
            #expect(otherTenant.json["detail"] as? String == "no device lock-1 is registered")
            let silent = try await client.call(.get, "/integration/v1/devices/quiet-1/latest", token: "reader")
            #expect(silent.status == .notFound)
            #expect((silent.json["detail"] as? String)?.contains("has sent anything") == true)
        }
    }

    /// North class 3 (priority 1), south class 2, no tenant class 1, north class 1 (priority 3).
    static func alarms(_ harness: Harness) -> (north: Int64, south: Int64, untenanted: Int64, northOpen: Int64) {
        let north = harness.alarms.open(deviceId: "lock-1", type: "sos", priority: 1, tenant: "north", confidentiality: 3,
                                        raisedAtMicros: base)
        let south = harness.alarms.open(deviceId: "s-1", type: "fall", priority: 2, tenant: "south", confidentiality: 2,
                                        raisedAtMicros: base)
        let none = harness.alarms.open(deviceId: "x-1", type: "smoke", priority: 2, tenant: nil, confidentiality: 1,
                                       raisedAtMicros: base + 1)
        let northOpen = harness.alarms.open(deviceId: "lock-2", type: "tamper", priority: 3, tenant: "north",
                                            confidentiality: 1, raisedAtMicros: base)
        return (north.id, south.id, none.id, northOpen.id)
    }

    @Test("the alarm list is scoped by tenant and clearance, highest priority first")
    func alarmListScope() async throws {
        let harness = Harness()
        let ids = Self.alarms(harness)
        try await harness.test { client async throws in
            func listed(_ token: String) async throws -> [Int] {
                try await client.call(.get, "/integration/v1/alarms", token: token).items.compactMap { $0["id"] as? Int }
            }
            #expect(try await listed("reader") == [ids.north, ids.south, ids.untenanted, ids.northOpen].map { Int($0) })
            #expect(try await listed("reader-2") == [ids.south, ids.untenanted, ids.northOpen].map { Int($0) })
            #expect(try await listed("operator-north") == [ids.north, ids.northOpen].map { Int($0) })
            #expect(try await client.call(.get, "/integration/v1/alarms/\(ids.south)", token: "operator-north").status == .notFound)
            #expect(try await client.call(.get, "/integration/v1/alarms/\(ids.south)", token: "reader").status == .ok)
        }
    }

    @Test("one home's alarms: by device, by care recipient, still within the client's scope; bad ids are 400")
    func alarmsOfOneHome() async throws {
        let harness = Harness()
        let ids = Self.alarms(harness)
        harness.alarms.setContext(deviceId: "lock-1", deviceType: "digital-lock", placement: nil, careRecipientRef: "cr-7")
        harness.alarms.setContext(deviceId: "lock-2", deviceType: "digital-lock", placement: nil, careRecipientRef: "cr-7")
        harness.alarms.setContext(deviceId: "s-1", deviceType: "safety-alarm", placement: nil, careRecipientRef: "cr-8")
        try await harness.test { client async throws in
            func listed(_ query: String, _ token: String = "reader") async throws -> [Int] {
                try await client.call(.get, "/integration/v1/alarms?\(query)", token: token).items.compactMap { $0["id"] as? Int }
            }
            #expect(try await listed("deviceId=lock-2") == [Int(ids.northOpen)])
            #expect(try await listed("careRecipientRef=cr-7") == [ids.north, ids.northOpen].map { Int($0) })
            #expect(try await listed("careRecipientRef=cr-8") == [Int(ids.south)])
            #expect(try await listed("careRecipientRef=cr-8", "operator-north").isEmpty, "another tenant's home stays out of scope")
            #expect(try await listed("careRecipientRef=nobody").isEmpty)
            let bad = try await client.call(.get, "/integration/v1/alarms?deviceId=a%20b", token: "reader")
            #expect(bad.status == .badRequest && bad.json["parameter"] as? String == "deviceId")
        }
    }

    @Test("acknowledge and resolve: only within scope, in lifecycle order, with the operator and client on the timeline")
    func acknowledgeAndResolve() async throws {
        let harness = Harness()
        let ids = Self.alarms(harness)
        try await harness.test { client async throws in
            let ack = #"{"operator": "op-17"}"#
            let resolve = #"{"operator": "op-17", "outcome": "false_alarm"}"#
            #expect(try await client.call(.post, "/integration/v1/alarms/\(ids.south)/acknowledge", token: "operator-north", body: ack).status == .notFound)
            let early = try await client.call(.post, "/integration/v1/alarms/\(ids.north)/resolve", token: "operator-north", body: resolve)
            #expect(early.status == .conflict)
            #expect(early.json["detail"] as? String == "the alarm is open: acknowledge it before resolving it")

            let acknowledged = try await client.call(.post, "/integration/v1/alarms/\(ids.north)/acknowledge", token: "operator-north", body: ack)
            #expect(acknowledged.status == .ok)
            #expect(acknowledged.json["state"] as? String == "acknowledged")
            #expect(acknowledged.json["acknowledgedBy"] as? String == "op-17")
            let other = try await client.call(.post, "/integration/v1/alarms/\(ids.north)/acknowledge", token: "operator-north",
                                              body: #"{"operator": "op-18"}"#)
            #expect(other.status == .conflict)
            let badOutcome = #"{"operator": "op-17", "outcome": "shrug"}"#
            #expect(try await client.call(.post, "/integration/v1/alarms/\(ids.north)/resolve", token: "operator-north", body: badOutcome).status == .badRequest)
            let resolved = try await client.call(.post, "/integration/v1/alarms/\(ids.north)/resolve", token: "operator-north", body: resolve)
            #expect(resolved.json["state"] as? String == "resolved")
            #expect(resolved.json["outcome"] as? String == "false_alarm")

            let active = try await client.call(.get, "/integration/v1/alarms", token: "operator-north")
            #expect(active.items.compactMap { $0["id"] as? Int } == [Int(ids.northOpen)])
        }
        let timeline = try #require(try await harness.alarms.alarm(ids.north)).timeline
        #expect(timeline.map(\.change) == [.opened, .acknowledged, .resolved])
        #expect(timeline.last?.actor == "op-17")
        #expect(timeline.last?.client == "operator-north")
        #expect(try await harness.alarms.alarm(ids.south)?.alarm.state == .open)
    }
}
