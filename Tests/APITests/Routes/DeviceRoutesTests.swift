import Hummingbird
import Registry
import Testing

/// `/iot/v1/devices`: registration, reads, paging, lifecycle and CSV import, over the in-memory registry.
@Suite struct DeviceRoutesTests {
    static let lock = #"{"deviceId": "lock-1", "serialNumber": "SN-1", "type": "digital-lock", "tenant": "north", "careRecipientRef": "cr-9"}"#

    @Test("register answers 201 with a claim code; the device reads back; a second registration of the id is 409")
    func registerAndRead() async throws {
        let harness = Harness()
        try await harness.test { client async throws in
            let created = try await client.call(.post, "/iot/v1/devices", token: "admin", body: Self.lock)
            #expect(created.status == .created)
            #expect((created.json["claimCode"] as? String)?.isEmpty == false)
            #expect((created.json["device"] as? [String: Any])?["lifecycleState"] as? String == "registered")

            let read = try await client.call(.get, "/iot/v1/devices/lock-1", token: "admin")
            #expect(read.status == .ok)
            #expect(read.json["serialNumber"] as? String == "SN-1")
            #expect(read.json["careRecipientRef"] as? String == "cr-9")

            let again = try await client.call(.post, "/iot/v1/devices", token: "admin", body: Self.lock)
            #expect(again.status == .conflict)
            #expect(again.json["detail"] as? String == "device id lock-1 is already registered")

            #expect(try await client.call(.get, "/iot/v1/devices/lock-2", token: "admin").status == .notFound)
            let unknownType = Self.lock.replacingOccurrences(of: "digital-lock", with: "toaster")
            #expect(try await client.call(.post, "/iot/v1/devices", token: "admin", body: unknownType).status == .badRequest)
        }
        #expect(try await harness.devices.history("lock-1").map(\.action) == ["register"])
    }

    @Test("a tenant-scoped admin registers and sees only its tenants' devices")
    func tenantScope() async throws {
        let harness = Harness()
        try await harness.register("south-1", tenant: "south")
        try await harness.test { client async throws in
            let south = Self.lock.replacingOccurrences(of: #""north""#, with: #""south""#)
            #expect(try await client.call(.post, "/iot/v1/devices", token: "admin-north", body: south).status == .forbidden)
            #expect(try await client.call(.post, "/iot/v1/devices", token: "admin-north", body: Self.lock).status == .created)
            #expect(try await client.call(.get, "/iot/v1/devices/south-1", token: "admin-north").status == .notFound)
            #expect(try await client.call(.get, "/iot/v1/devices", token: "admin-north").strings("deviceId") == ["lock-1"])
            #expect(try await client.call(.get, "/iot/v1/devices", token: "admin").strings("deviceId") == ["lock-1", "south-1"])
        }
    }

    @Test("the list pages by device id with an opaque cursor, and filters by state")
    func listPages() async throws {
        let harness = Harness()
        for id in ["d-5", "d-3", "d-1", "d-4", "d-2"] { try await harness.register(id) }
        _ = try await harness.devices.apply(.provision, to: "d-2", actor: "test", reason: nil)
        try await harness.test { client async throws in
            var pages: [[String]] = []
            var cursor: String?
            repeat {
                let reply = try await client.call(.get, "/iot/v1/devices?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: "admin")
                #expect(reply.status == .ok)
                pages.append(reply.strings("deviceId"))
                cursor = reply.json["nextCursor"] as? String
            } while cursor != nil && pages.count < 5
            #expect(pages == [["d-1", "d-2"], ["d-3", "d-4"], ["d-5"]])
            let provisioned = try await client.call(.get, "/iot/v1/devices?state=provisioned", token: "admin")
            #expect(provisioned.strings("deviceId") == ["d-2"])
            #expect(try await client.call(.get, "/iot/v1/devices?state=sleeping", token: "admin").status == .badRequest)
        }
    }

    @Test("lifecycle actions: 409 names what is allowed, the broker enforces each change, decommission needs a reason")
    func lifecycle() async throws {
        let harness = Harness()
        try await harness.register("lock-1")
        try await harness.test { client async throws in
            let refused = try await client.call(.post, "/iot/v1/devices/lock-1/suspend", token: "admin")
            #expect(refused.status == .conflict)
            #expect(refused.json["detail"] as? String == "cannot suspend a device that is registered; allowed: provision, decommission")

            _ = try await harness.devices.apply(.provision, to: "lock-1", actor: "gateway:claim", reason: nil)
            _ = try await harness.devices.apply(.activate, to: "lock-1", actor: "gateway", reason: nil)
            let suspended = try await client.call(.post, "/iot/v1/devices/lock-1/suspend", token: "admin",
                                                  body: #"{"reason": "lost", "actor": "op-1"}"#)
            #expect(suspended.json["lifecycleState"] as? String == "suspended")
            let resumed = try await client.call(.post, "/iot/v1/devices/lock-1/resume", token: "admin")
            #expect(resumed.json["lifecycleState"] as? String == "active")

            #expect(try await client.call(.post, "/iot/v1/devices/lock-1/decommission", token: "admin").status == .badRequest)
            let gone = try await client.call(.post, "/iot/v1/devices/lock-1/decommission", token: "admin", body: #"{"reason": "broken"}"#)
            #expect(gone.json["lifecycleState"] as? String == "decommissioned")
            let terminal = try await client.call(.post, "/iot/v1/devices/lock-1/resume", token: "admin")
            #expect(terminal.status == .conflict)
            #expect((terminal.json["detail"] as? String)?.contains("terminal") == true)
            #expect(try await client.call(.post, "/iot/v1/devices/nope-1/suspend", token: "admin").status == .notFound)

            let history = try await client.call(.get, "/iot/v1/devices/lock-1/history", token: "admin")
            #expect(history.strings("action") == ["register", "provision", "activate", "suspend", "resume", "decommission"])
            let suspend = history.items[3]
            #expect(suspend["actor"] as? String == "op-1")
            #expect(suspend["client"] as? String == "admin")
            #expect(suspend["reason"] as? String == "lost")
        }
        #expect(harness.broker.enforced.map(\.state) == [.suspended, .active, .decommissioned])
    }

    @Test("a device suspended while provisioned resumes to provisioned, not active")
    func resumeFromProvisioned() async throws {
        let harness = Harness()
        try await harness.register("box-1")
        _ = try await harness.devices.apply(.provision, to: "box-1", actor: "gateway:claim", reason: nil)
        try await harness.test { client async throws in
            let suspended = try await client.call(.post, "/iot/v1/devices/box-1/suspend", token: "admin")
            #expect(suspended.json["lifecycleState"] as? String == "suspended")
            let resumed = try await client.call(.post, "/iot/v1/devices/box-1/resume", token: "admin")
            #expect(resumed.status == .ok)
            #expect(resumed.json["lifecycleState"] as? String == "provisioned")
        }
        #expect(harness.broker.enforced.map(\.state) == [.suspended, .provisioned])
    }

    @Test("CSV import reports every row: registered, invalid, taken; atomic registers nothing when a row fails")
    func csvImport() async throws {
        let harness = Harness()
        try await harness.register("taken-1")
        let csv = """
            device_id,serial_number,type,tenant
            new-1,SN-new-1,digital-lock,north
            bad-1,SN-bad-1,toaster,north
            taken-1,SN-other,sensor,north
            new-2,SN-new-2,sensor,south

            """
        try await harness.test { client async throws in
            let atomic = try await client.call(.post, "/iot/v1/devices/import?atomic=true", token: "admin", body: csv, contentType: "text/csv")
            #expect(atomic.status == .ok)
            #expect((atomic.json["registered"] as? [Any])?.isEmpty == true)
            #expect(try await harness.devices.device("new-1") == nil)

            let report = try await client.call(.post, "/iot/v1/devices/import", token: "admin-north", body: csv, contentType: "text/csv")
            #expect(report.status == .ok)
            let registered = (report.json["registered"] as? [[String: Any]] ?? []).compactMap { ($0["device"] as? [String: Any])?["deviceId"] as? String }
            #expect(registered == ["new-1"])
            let rejected = report.json["rejected"] as? [[String: Any]] ?? []
            #expect(rejected.compactMap { $0["line"] as? Int } == [3, 4, 5])
            #expect(rejected[1]["reason"] as? String == "device id taken-1 is already registered")
            #expect(rejected[2]["reason"] as? String == "tenant south is not one of this client's")
            #expect((rejected[0]["reason"] as? String)?.contains("toaster") == true)
        }
        #expect(try await harness.devices.device("new-1")?.lifecycleState == .registered)
        #expect(try await harness.devices.device("new-2") == nil)
    }
}
