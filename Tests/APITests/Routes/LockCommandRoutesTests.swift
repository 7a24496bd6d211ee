import Access
import Foundation
import Hummingbird
import Locks
import Registry
import Testing

/// `/integration/v1/locks/{id}/unlock|lock`, `/integration/v1/commands/{id}`, the access log and the visits report:
/// the decision before anything is sent, the stored refusal, roles, tenants, clearance and hostile input.
@Suite struct LockCommandRoutesTests {
    static func grant(_ harness: Harness, staff: String = "staff-7", lock: String = "lock-n") async throws {
        let now = systemMicros()
        _ = try await harness.grants.create(NewGrant(staffRef: staff, validFromMicros: now - 60_000_000, validToMicros: now + 3_600_000_000,
                                                     weekly: nil, source: .manual, visitRef: "v-1", reason: nil),
                                            deviceId: lock, grantedBy: "planner-north")
    }

    @Test("inside a grant: 202, stored pending with an expiry and a Location; outside: 403 naming the refusal, stored as refused")
    func allowedAndRefused() async throws {
        let harness = Harness()
        try await LockRoutesTests.seed(harness)
        try await Self.grant(harness)
        try await harness.test { client in
            let allowed = try await client.call(.post, "/integration/v1/locks/lock-n/unlock", token: "app-north", body: #"{"staffRef":"staff-7","ttlSeconds":30}"#)
            #expect(allowed.status == .accepted, "\(allowed.text)")
            let id = allowed.json["id"] as? String ?? ""
            #expect(allowed.json["status"] as? String == "pending" && allowed.json["action"] as? String == "unlock")
            let stored = try await harness.commands.command(id)
            #expect(stored?.status == .pending && stored?.grantId != nil)
            #expect(stored.map { $0.expiresAtMicros - $0.requestedAtMicros } == 30_000_000)
            #expect(stored?.topic == "commands/lock-n/lock")

            let refused = try await client.call(.post, "/integration/v1/locks/lock-n/lock", token: "app-north", body: #"{"staffRef":"staff-8"}"#)
            #expect(refused.status == .forbidden)
            #expect(refused.json["refusal"] as? String == "no-grant" && refused.json["type"] as? String == "urn:cip:problem:access-refused",
                    "\(refused.text)")
            let refusedId = refused.json["commandId"] as? String ?? ""
            #expect(try await harness.commands.command(refusedId)?.status == .refused)
            #expect(try await harness.commands.unpublished(nowMicros: systemMicros(), limit: 10).map(\.id) == [id],
                    "a refusal is never sent to the lock")

            let shown = try await client.call(.get, "/integration/v1/commands/\(id)", token: "operator-north")
            #expect(shown.status == .ok && shown.json["staffRef"] as? String == "staff-7", "\(shown.text)")
        }
    }

    @Test("a command is never valid past the grant that allows it")
    func expiryCappedAtTheGrant() async throws {
        let harness = Harness()
        try await LockRoutesTests.seed(harness)
        let now = systemMicros()
        let grant = try await harness.grants.create(NewGrant(staffRef: "staff-9", validFromMicros: now - 60_000_000, validToMicros: now + 20_000_000,
                                                             weekly: nil, source: .manual, visitRef: nil, reason: nil),
                                                    deviceId: "lock-n", grantedBy: "planner-north")
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/locks/lock-n/unlock", token: "app-north", body: #"{"staffRef":"staff-9","ttlSeconds":600}"#)
            #expect(reply.status == .accepted, "\(reply.text)")
            let stored = try await harness.commands.command(reply.json["id"] as? String ?? "")
            #expect(stored?.expiresAtMicros == grant.validToMicros, "the grant's end, not ten minutes")
        }
    }

    @Test("a decommissioned lock's access log stays readable; commands to it are refused")
    func decommissionedLock() async throws {
        let harness = Harness()
        try await LockRoutesTests.seed(harness)
        _ = try await harness.devices.apply(.decommission, to: "lock-n", actor: "t", client: nil, reason: "replaced")
        try await harness.test { client in
            let log = try await client.call(.get, "/integration/v1/locks/lock-n/access-log", token: "auditor")
            #expect(log.status == .ok, "\(log.text)")
            let unlock = try await client.call(.post, "/integration/v1/locks/lock-n/unlock", token: "app-north", body: #"{"staffRef":"staff-7"}"#)
            #expect(unlock.status == .conflict, "\(unlock.text)")
        }
    }

    @Test("a lock not in service refuses every command, even inside a grant")
    func lockNotInService() async throws {
        let harness = Harness()
        try await LockRoutesTests.seed(harness)
        try await Self.grant(harness, lock: "lock-new")
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/locks/lock-new/unlock", token: "app-north", body: #"{"staffRef":"staff-7"}"#)
            #expect(reply.status == .forbidden && reply.json["refusal"] as? String == "lock-not-in-service", "\(reply.text)")
        }
    }

    @Test("roles, tenants and clearance; a command of another tenant's lock is not found")
    func scope() async throws {
        let harness = Harness()
        try await LockRoutesTests.seed(harness)
        try await Self.grant(harness, lock: "lock-s")
        try await harness.test { client in
            let body = #"{"staffRef":"staff-7"}"#
            #expect(try await client.call(.post, "/integration/v1/locks/lock-s/unlock", token: "app-north", body: body).status == .notFound)
            #expect(try await client.call(.post, "/integration/v1/locks/lock-s/unlock", token: "app-2", body: body).status == .forbidden)
            #expect(try await client.call(.post, "/integration/v1/locks/lock-s/unlock", token: "planner-north", body: body).status == .forbidden)
            #expect(try await client.call(.post, "/integration/v1/locks/sensor-n/unlock", token: "app-north", body: body).status == .conflict)
            let south = try await client.call(.post, "/integration/v1/locks/lock-s/unlock", token: "admin", body: body)
            #expect(south.status == .forbidden, "device-admin has no lock commands")
            // A command on a south lock, stored directly: invisible to a north client.
            let command = LockCommand(id: LockCommand.newID(), deviceId: "lock-s", action: .unlock, staffRef: "staff-7", requestedBy: "x",
                                      requestedAtMicros: 1, expiresAtMicros: 2, grantId: nil, status: .expired, finishedAtMicros: 2)
            try await harness.commands.insert(command)
            #expect(try await client.call(.get, "/integration/v1/commands/\(command.id)", token: "operator-north").status == .notFound)
            #expect(try await client.call(.get, "/integration/v1/commands/not%20an%20id", token: "operator-north").status == .badRequest)
        }
    }

    @Test("hostile bodies are 400 problems and store nothing", arguments: [
        #"{"staffRef":"19121212-1212"}"#, #"{"staffRef":"staff-7","ttlSeconds":0}"#, #"{"staffRef":"staff-7","ttlSeconds":601}"#,
        #"{"staffRef":""}"#, #"{"staffRef":"a\u0000b"}"#, "[]", "", #"{"staffRef":7}"#,
    ])
    func hostileBodies(body: String) async throws {
        let harness = Harness()
        try await LockRoutesTests.seed(harness)
        try await Self.grant(harness)
        try await harness.test { client in
            let reply = try await client.call(.post, "/integration/v1/locks/lock-n/unlock", token: "app-north", body: body)
            #expect(reply.status == .badRequest, "\(body): \(reply.text)")
            #expect(try await harness.commands.commands(deviceId: "lock-n", fromMicros: 0, toMicros: .max, limit: 10).isEmpty)
        }
    }

    @Test("the access log and the visits report: readers, tenants, clearance, period bounds")
    func reports() async throws {
        var harness = Harness()
        let entry = AccessLogEntry(atMicros: systemMicros() - 1_000_000, kind: .lockEvent, staffRef: "staff-7",
                                   detail: ["event": "unlocked", "sequence": "4"])
        let visit = VisitRecord(grantId: 1, deviceId: "lock-n", staffRef: "staff-7", source: .visitPlan, visitRef: "v-1",
                                plannedStartMicros: systemMicros() - 3_600_000_000, plannedEndMicros: systemMicros() - 1_800_000_000,
                                validFromMicros: nil, validToMicros: nil, revokedAtMicros: nil, alarmRaisedAtMicros: nil,
                                firstUnlockMicros: systemMicros() - 3_500_000_000, lastLockMicros: nil)
        harness.reports = InMemoryLockReportRepository(log: ["lock-n": [entry]], visitsByRecipient: ["cr-1": [("north", visit)]])
        try await LockRoutesTests.seed(harness)
        try await harness.test { client in
            let log = try await client.call(.get, "/integration/v1/locks/lock-n/access-log", token: "auditor")
            #expect(log.status == .ok && log.items.first?["kind"] as? String == "lock-event", "\(log.text)")
            #expect((log.items.first?["detail"] as? [String: String])?["sequence"] == "4")
            #expect(try await client.call(.get, "/integration/v1/locks/lock-s/access-log", token: "operator-north").status == .notFound)
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/access-log", token: "app-north").status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/access-log", token: "planner-2").status == .forbidden)
            #expect(try await client.call(.get, "/integration/v1/locks/lock-n/access-log?from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z",
                                          token: "auditor").status == .badRequest)

            let visits = try await client.call(.get, "/integration/v1/visits?careRecipientRef=cr-1", token: "planner-north")
            #expect(visits.status == .ok && visits.items.first?["arrived"] as? Bool == true, "\(visits.text)")
            let south = try await client.call(.get, "/integration/v1/visits?careRecipientRef=cr-1", token: "operator-north")
            #expect(south.items.count == 1, "north sees its own tenant's visits")
            #expect(try await client.call(.get, "/integration/v1/visits", token: "planner-north").status == .badRequest)
            #expect(try await client.call(.get, "/integration/v1/visits?careRecipientRef=cr-1", token: "planner-2").status == .forbidden)
        }
    }
}
