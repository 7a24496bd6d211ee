import Access
import Alarms
import Foundation
import Hummingbird
import Locks
import Models
import Registry
import Testing

/// Alarm visits: acknowledging with a responder grants them the care recipient's active locks in the alarm's tenant
/// until the resolution plus the margin; the responder can be changed; everything is on the timeline.
@Suite struct AlarmVisitRoutesTests {
    /// cr-1 lives in north: safety alarm sa-1, lock-a (active), lock-b (registered only, not in service); lock-c
    /// (north, active) is cr-2's; lock-s (south, active) has the same reference cr-1 in another tenant (another
    /// person). sa-none (north) has no care recipient; sa-s is cr-1's alarm in south.
    static func seed(_ harness: Harness) async throws {
        for (id, tenant, type, recipient, active) in [
            ("sa-1", "north", "safety-alarm", "cr-1", true), ("lock-a", "north", "digital-lock", "cr-1", true),
            ("lock-b", "north", "digital-lock", "cr-1", false), ("lock-c", "north", "digital-lock", "cr-2", true),
            ("lock-s", "south", "digital-lock", "cr-1", true), ("sa-none", "north", "safety-alarm", nil, true),
            ("sa-s", "south", "safety-alarm", "cr-1", true),
        ] as [(String, String, String, String?, Bool)] {
            try await harness.register(id, tenant: tenant, type: type)
            if let recipient {
                _ = try await harness.devices.update(id, with: DevicePatch(careRecipientRef: recipient), actor: "t", client: nil)
            }
            if active {
                _ = try await harness.devices.apply(.provision, to: id, actor: "t", client: nil, reason: nil)
                _ = try await harness.devices.apply(.activate, to: id, actor: "t", client: nil, reason: nil)
            }
        }
    }

    static func responder(_ reply: Reply) -> [String: Any]? { reply.json["responder"] as? [String: Any] }
    static func grants(_ reply: Reply) -> [[String: Any]] { responder(reply)?["grants"] as? [[String: Any]] ?? [] }

    @Test("acknowledge with a responder: one grant per active lock of the recipient in the tenant, on the timeline and the lock")
    func acknowledgeGrants() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        let alarm = harness.alarms.open(deviceId: "sa-1", type: "alarm_button", kind: "care", priority: 1, tenant: "north", confidentiality: 3)
        try await harness.test { client in
            let acked = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(acked.status == .ok, "\(acked.text)")
            #expect(acked.json["state"] as? String == "acknowledged")
            #expect(Self.responder(acked)?["staffRef"] as? String == "staff-7")
            let grants = Self.grants(acked)
            #expect(grants.compactMap { $0["lockId"] as? String } == ["lock-a"], "only the active lock of cr-1 in north: \(acked.text)")
            // From the acknowledgement, for the cap (12 h by default).
            let from = (grants.first?["validFrom"] as? String).flatMap { RFC3339.micros($0) }
            let to = (grants.first?["validTo"] as? String).flatMap { RFC3339.micros($0) }
            #expect(from != nil && to.map { $0 - from! } == 12 * 3_600_000_000)
            #expect(grants.first?["revokedAt"] == nil)

            func access(_ lock: String, _ staff: String, at: String? = nil) async throws -> Reply {
                try await client.call(.get, "/integration/v1/locks/\(lock)/access?staffRef=\(staff)" + (at.map { "&at=\($0)" } ?? ""),
                                      token: "operator-all")
            }
            #expect(try await access("lock-a", "staff-7").json["allowed"] as? Bool == true)
            #expect(try await access("lock-a", "staff-8").json["refusal"] as? String == "no-grant")
            #expect(try await access("lock-s", "staff-7").json["refusal"] as? String == "no-grant", "another tenant's cr-1 is another person")
            #expect(try await access("lock-c", "staff-7").json["refusal"] as? String == "no-grant")
            #expect(try await harness.grants.grants(deviceId: "lock-b", staffRef: "staff-7").isEmpty, "a lock not in service gets none")

            // The lock's grants show it: source alarm, the alarm as the visit, the client that granted it.
            let listed = try await client.call(.get, "/integration/v1/locks/lock-a/grants", token: "operator-north")
            #expect(listed.strings("source") == ["alarm"] && listed.strings("visitRef") == [String(alarm.id)], "\(listed.text)")
            #expect(listed.strings("grantedBy") == ["operator-north"])
            #expect(listed.strings("reason").first?.contains("alarm \(alarm.id)") == true)

            // The timeline: acknowledged, then responder_assigned with the responder and the locks.
            let detail = try await client.call(.get, "/integration/v1/alarms/\(alarm.id)", token: "operator-north")
            let timeline = detail.json["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.compactMap { $0["change"] as? String } == ["opened", "acknowledged", "responder_assigned"])
            let details = timeline.last?["details"] as? [String: String] ?? [:]
            #expect(details["responder"] == "staff-7" && details["locks"] == "lock-a", "\(details)")
            #expect(details["grants"] == (grants.first?["id"] as? Int).map(String.init))
            #expect(timeline.last?["actor"] as? String == "op-1" && timeline.last?["client"] as? String == "operator-north")
            // The detail nests the alarm.
            let nested = (detail.json["alarm"] as? [String: Any])?["responder"] as? [String: Any]
            #expect((nested?["grants"] as? [[String: Any]])?.count == 1, "\(detail.text)")
            // The list shows it too.
            let list = try await client.call(.get, "/integration/v1/alarms", token: "operator-north")
            #expect((list.items.first?["responder"] as? [String: Any])?["staffRef"] as? String == "staff-7")

            // Acknowledging again the same way changes nothing (no second grant, no second entry).
            let again = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(again.status == .ok && Self.grants(again).count == 1)
            #expect(try await harness.grants.grants(deviceId: "lock-a", staffRef: "staff-7").count == 1)
            // Another operator acknowledging with another responder is refused and grants nothing.
            let other = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-2","responder":"staff-9"}"#)
            #expect(other.status == .conflict)
            #expect(try await harness.grants.grants(deviceId: "lock-a", staffRef: "staff-9").isEmpty)
        }
    }

    @Test("resolve ends the grants at resolution + margin: allowed until then, refused from then")
    func resolveEndsAfterMargin() async throws {
        let harness = Harness(visitTimes: AlarmVisitTimes(capMicros: 3_600_000_000, marginMicros: 600_000_000))
        try await Self.seed(harness)
        let alarm = harness.alarms.open(deviceId: "sa-1", type: "alarm_button", kind: "care", priority: 1, tenant: "north", confidentiality: 3)
        try await harness.test { client in
            _ = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/acknowledge", token: "operator-north",
                                      body: #"{"operator":"op-1","responder":"staff-7"}"#)
            let resolved = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/resolve", token: "operator-north",
                                                 body: #"{"operator":"op-1","outcome":"visit_made"}"#)
            #expect(resolved.status == .ok, "\(resolved.text)")
            let resolvedAt = try #require((resolved.json["resolvedAt"] as? String).flatMap { RFC3339.micros($0) })
            let end = try #require((Self.grants(resolved).first?["revokedAt"] as? String).flatMap { RFC3339.micros($0) }, "\(resolved.text)")
            #expect(end - resolvedAt == 600_000_000, "the margin: 10 minutes")

            func access(at micros: Int64) async throws -> Reply {
                let at = RFC3339.format(micros: micros).replacingOccurrences(of: "+", with: "%2B")
                return try await client.call(.get, "/integration/v1/locks/lock-a/access?staffRef=staff-7&at=\(at)", token: "operator-north")
            }
            #expect(try await access(at: end - 1).json["allowed"] as? Bool == true, "still inside the margin")
            #expect(try await access(at: end).json["refusal"] as? String == "revoked")
            // In force (listed without includeEnded) until the margin is over.
            #expect(try await client.call(.get, "/integration/v1/locks/lock-a/grants", token: "operator-north").items.count == 1)

            let timeline = try await client.call(.get, "/integration/v1/alarms/\(alarm.id)", token: "operator-north")
                .json["timeline"] as? [[String: Any]] ?? []
            let details = timeline.last?["details"] as? [String: String] ?? [:]
            #expect(timeline.last?["change"] as? String == "resolved" && details["grantsEndAt"] == RFC3339.format(micros: end), "\(details)")

            // A care planner can still cut the margin short: the pending revocation is brought forward to now.
            let id = try #require(Self.grants(resolved).first?["id"] as? Int)
            let cut = try await client.call(.delete, "/integration/v1/locks/lock-a/grants/\(id)", token: "planner-north")
            let cutAt = try #require((cut.json["revokedAt"] as? String).flatMap { RFC3339.micros($0) }, "\(cut.text)")
            #expect(cutAt < end && cut.json["revokedBy"] as? String == "planner-north")
            #expect(try await access(at: cutAt).json["refusal"] as? String == "revoked")
            // Nothing more after the resolution.
            let late = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/responder", token: "operator-north",
                                             body: #"{"operator":"op-1","responder":"staff-9"}"#)
            #expect(late.status == .conflict)
        }
    }

    @Test("changing the responder ends the previous one's grants now and grants the new one")
    func changeResponder() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        let alarm = harness.alarms.open(deviceId: "sa-1", type: "alarm_button", kind: "care", priority: 1, tenant: "north", confidentiality: 3)
        try await harness.test { client in
            let path = "/integration/v1/alarms/\(alarm.id)/responder"
            // Not before the acknowledgement.
            let early = try await client.call(.post, path, token: "operator-north", body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(early.status == .conflict && early.text.contains("acknowledge"), "\(early.text)")
            #expect(try await harness.grants.grants(deviceId: "lock-a", staffRef: "staff-7").isEmpty)

            _ = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/acknowledge", token: "operator-north",
                                      body: #"{"operator":"op-1"}"#)
            let first = try await client.call(.post, path, token: "operator-north", body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(first.status == .ok && Self.responder(first)?["staffRef"] as? String == "staff-7", "\(first.text)")
            let second = try await client.call(.post, path, token: "operator-north", body: #"{"operator":"op-2","responder":"staff-9"}"#)
            #expect(second.status == .ok && Self.responder(second)?["staffRef"] as? String == "staff-9", "\(second.text)")
            #expect(Self.grants(second).count == 1, "only the current responder's grants are shown")

            func access(_ staff: String) async throws -> Reply {
                try await client.call(.get, "/integration/v1/locks/lock-a/access?staffRef=\(staff)", token: "operator-north")
            }
            #expect(try await access("staff-7").json["refusal"] as? String == "revoked")
            #expect(try await access("staff-9").json["allowed"] as? Bool == true)
            // The same responder again changes nothing.
            let same = try await client.call(.post, path, token: "operator-north", body: #"{"operator":"op-2","responder":"staff-9"}"#)
            #expect(same.status == .ok)
            let timeline = try await client.call(.get, "/integration/v1/alarms/\(alarm.id)", token: "operator-north")
                .json["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.compactMap { $0["change"] as? String } == ["opened", "acknowledged", "responder_assigned", "responder_assigned"])
            #expect((timeline.last?["details"] as? [String: String])?["previousResponder"] == "staff-7")
            #expect(try await harness.grants.grants(deviceId: "lock-a", staffRef: "staff-9").count == 1)
        }
    }

    @Test("no care recipient, or no lock: the acknowledgement works and the timeline says no lock was granted")
    func noLock() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        let none = harness.alarms.open(deviceId: "sa-none", type: "alarm_button", kind: "care", priority: 1, tenant: "north", confidentiality: 3)
        try await harness.test { client in
            let acked = try await client.call(.post, "/integration/v1/alarms/\(none.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(acked.status == .ok && acked.json["state"] as? String == "acknowledged", "\(acked.text)")
            #expect(Self.responder(acked)?["staffRef"] as? String == "staff-7" && Self.grants(acked).isEmpty)
            let timeline = try await client.call(.get, "/integration/v1/alarms/\(none.id)", token: "operator-north")
                .json["timeline"] as? [[String: Any]] ?? []
            let details = timeline.last?["details"] as? [String: String] ?? [:]
            #expect(details["noLockGranted"]?.contains("no care recipient") == true, "\(details)")
            #expect(details["locks"] == "")
        }
    }

    @Test("hostile or careless responders are 400 problem+json and change nothing", arguments: [
        #""19121212-1212""#, #""staff-19121212-1212""#, #""191212121212""#, "\"\(String(repeating: "a", count: 2048))\"",
        #""staff\u0001x""#, #""staff\n7""#, #""""#, #""staff 7""#, #""<script>""#, "7", "null",
    ])
    func hostileResponder(value: String) async throws {
        let harness = Harness()
        try await Self.seed(harness)
        let alarm = harness.alarms.open(deviceId: "sa-1", type: "alarm_button", kind: "care", priority: 1, tenant: "north", confidentiality: 3)
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-1","responder":\#(value)}"#)
            if value == "null" {
                // An explicit null is no responder: a plain acknowledgement.
                #expect(reply.status == .ok && Self.responder(reply) == nil, "\(reply.text)")
                return
            }
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply.json["status"] as? Int == 400 && reply.json["title"] != nil, "problem+json: \(reply.text)")
            #expect(!reply.text.contains("19121212-1212"), "the refused value is not echoed")
            let after = try await client.call(.get, "/integration/v1/alarms/\(alarm.id)", token: "operator-north")
            #expect(after.json["alarm"].flatMap { ($0 as? [String: Any])?["state"] as? String } == "open")
            #expect(try await harness.grants.alarmGrants(alarmIds: [alarm.id]).isEmpty)
        }
    }

    @Test("scope: clearance 3 for a responder, the responder left out below it, other tenants' alarms unknown, roles")
    func scope() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        // A care alarm stored as class 2, visible to a class 2 operator; and a technical alarm.
        let alarm = harness.alarms.open(deviceId: "sa-1", type: "alarm_button", kind: "care", priority: 1, tenant: "north", confidentiality: 2)
        let technical = harness.alarms.open(deviceId: "sa-1", type: "device_fault", kind: "technical", priority: 3, tenant: "north",
                                            confidentiality: 2)
        let south = harness.alarms.open(deviceId: "sa-s", type: "alarm_button", kind: "care", priority: 1, tenant: "south", confidentiality: 3)
        try await harness.test { client in
            let ack = "/integration/v1/alarms/\(alarm.id)/acknowledge"
            let low = try await client.call(.post, ack, token: "operator-north-2", body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(low.status == .forbidden, "\(low.text)")
            #expect(try await harness.grants.alarmGrants(alarmIds: [alarm.id]).isEmpty)
            #expect(try await client.call(.post, ack, token: "reader", body: #"{"operator":"op-1","responder":"staff-7"}"#).status == .forbidden,
                    "integrators never change alarms")
            let acked = try await client.call(.post, ack, token: "operator-north", body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(acked.status == .ok && Self.grants(acked).count == 1, "\(acked.text)")
            // A technical alarm sends nobody into the home: no responder, no grant.
            let fault = try await client.call(.post, "/integration/v1/alarms/\(technical.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-1","responder":"staff-8"}"#)
            #expect(fault.status == .conflict, "\(fault.text)")
            #expect(try await harness.grants.alarmGrants(alarmIds: [technical.id]).isEmpty)

            // Below clearance 3 the responder, its grants and the timeline's responder details are left out.
            let seenLow = try await client.call(.get, "/integration/v1/alarms/\(alarm.id)", token: "operator-north-2")
            #expect(seenLow.status == .ok)
            #expect(!seenLow.text.contains("staff-7") && !seenLow.text.contains("\"responder\""), "\(seenLow.text)")
            let listLow = try await client.call(.get, "/integration/v1/alarms", token: "operator-north-2")
            #expect(listLow.items.count == 2 && !listLow.text.contains("staff-7"), "\(listLow.text)")
            let seenHigh = try await client.call(.get, "/integration/v1/alarms/\(alarm.id)", token: "operator-north")
            #expect(seenHigh.text.contains("staff-7"))

            // Another tenant's alarm does not exist for this client; an unknown one neither.
            let other = try await client.call(.post, "/integration/v1/alarms/\(south.id)/acknowledge", token: "operator-north",
                                              body: #"{"operator":"op-1","responder":"staff-7"}"#)
            #expect(other.status == .notFound)
            #expect(try await client.call(.post, "/integration/v1/alarms/999/responder", token: "operator-north",
                                          body: #"{"operator":"op-1","responder":"staff-7"}"#).status == .notFound)
            #expect(try await harness.grants.alarmGrants(alarmIds: [south.id]).isEmpty)
            // The responder route wants both fields.
            #expect(try await client.call(.post, "/integration/v1/alarms/\(alarm.id)/responder", token: "operator-north",
                                          body: #"{"operator":"op-1"}"#).status == .badRequest)
        }
    }
}
