import Foundation
import Models
import Registry
import Testing

@Suite struct SubjectAccessRoutesTests {
    static func seed(_ harness: Harness) {
        harness.subjects.link(CareRecipientLink(deviceId: "gps-n", deviceType: "gps-alarm", tenant: "north", careRecipientRef: "cr-7",
                                                linkedAtMicros: 1_760_000_000_000_000, unlinkedAtMicros: 1_770_000_000_000_000))
        harness.subjects.link(CareRecipientLink(deviceId: "lock-s", deviceType: "digital-lock", tenant: "south", careRecipientRef: "cr-7",
                                                linkedAtMicros: 1_765_000_000_000_000, unlinkedAtMicros: nil))
        harness.subjects.link(CareRecipientLink(deviceId: "lock-x", deviceType: "digital-lock", tenant: "north", careRecipientRef: "cr-8",
                                                linkedAtMicros: 1_765_000_000_000_000, unlinkedAtMicros: nil))
        for index in 0..<5 {
            harness.subjects.add(.observations, deviceId: "gps-n", json: #"{"deviceId":"gps-n","quantity":"latitude","value":\#(57 + index)}"#)
        }
        harness.subjects.add(.events, deviceId: "lock-s", json: #"{"deviceId":"lock-s","event":"unlocked"}"#)
        harness.subjects.add(.auditEntries, deviceId: nil, json: #"{"client":"reader","subjects":["cr-7"]}"#)
    }

    @Test("a privacy officer gets one JSON document: the links, every section paged through, complete; itself audited")
    func exportStreamsEverySection() async throws {
        let harness = Harness()
        Self.seed(harness)
        try await harness.test { client in
            let reply = try await client.call(.get, "/integration/v1/subjects/cr-7", token: "privacy")
            #expect(reply.status == .ok, "\(reply.text)")
            let body = reply.json
            #expect(body["careRecipientRef"] as? String == "cr-7")
            #expect((body["links"] as? [[String: Any]])?.compactMap { $0["deviceId"] as? String } == ["gps-n", "lock-s"])
            #expect((body["links"] as? [[String: Any]])?.first?["unlinkedAt"] as? String == RFC3339.format(micros: 1_770_000_000_000_000))
            #expect((body["observations"] as? [[String: Any]])?.compactMap { $0["value"] as? Int } == [57, 58, 59, 60, 61])
            #expect((body["events"] as? [[String: Any]])?.count == 1)
            #expect((body["alarms"] as? [Any])?.isEmpty == true)
            #expect((body["auditEntries"] as? [Any])?.count == 1)
            #expect(body["complete"] as? Bool == true)
            let trail = try await client.call(.get, "/integration/v1/audit?client=privacy", token: "auditor")
            #expect(trail.items.first?["subjects"] as? [String] == ["cr-7", "gps-n", "lock-s"])
        }
    }

    @Test("pages of any size give the same document")
    func pagingIsInvisible() async throws {
        let harness = Harness()
        Self.seed(harness)
        for index in 0..<4_500 { harness.subjects.add(.observations, deviceId: "lock-s", json: #"{"n":\#(index)}"#) }
        try await harness.test { client in
            let reply = try await client.call(.get, "/integration/v1/subjects/cr-7", token: "privacy")
            #expect((reply.json["observations"] as? [Any])?.count == 4_505, "more than two pages of 2,000")
        }
    }

    @Test("a client scoped to tenants sees its tenants' links only, and no entry merely naming the person")
    func tenantScope() async throws {
        let harness = Harness()
        Self.seed(harness)
        try await harness.test { client in
            let reply = try await client.call(.get, "/integration/v1/subjects/cr-7", token: "privacy-north")
            #expect((reply.json["links"] as? [[String: Any]])?.compactMap { $0["deviceId"] as? String } == ["gps-n"])
            #expect((reply.json["events"] as? [Any])?.isEmpty == true, "the south lock's events are not this client's")
            #expect((reply.json["auditEntries"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("roles, clearance and hostile references are refused with a problem")
    func refusals() async throws {
        let harness = Harness()
        Self.seed(harness)
        try await harness.test { client in
            #expect(try await client.call(.get, "/integration/v1/subjects/cr-7", token: "auditor").status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/subjects/cr-7", token: "privacy-2").status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/subjects/cr-7", token: nil).status == .unauthorized)
            for bad in ["19121212-1212", String(repeating: "x", count: 65), "cr%007", "cr%0A7"] {
                let reply = try await client.call(.get, "/integration/v1/subjects/\(bad)", token: "privacy")
                #expect(reply.status == .badRequest, "\(bad): \(reply.status) \(reply.text)")
            }
            let unknown = try await client.call(.get, "/integration/v1/subjects/cr-unknown", token: "privacy")
            #expect(unknown.status == .ok)
            #expect((unknown.json["links"] as? [Any])?.isEmpty == true, "nothing held is an empty export")
        }
    }
}
