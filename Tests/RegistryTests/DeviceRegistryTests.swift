import Registry
import Testing

/// The registry's use cases over the in-memory repository and broker: the rules the API and the command line
/// share, tried the way a careless client would.
@Suite struct DeviceRegistryTests {
    let repository = InMemoryDeviceRepository()
    let broker = InMemoryBrokerAccess()
    var registry: DeviceRegistry {
        DeviceRegistry(repository: repository, knownTypes: ["sensor", "digital-lock"], claimValiditySeconds: 3600,
                       broker: broker)
    }

    func registration(_ id: String, tenant: String = "home-care", type: String = "sensor",
                      tags: [String] = []) -> DeviceImportRow {
        DeviceImportRow(deviceId: id, serialNumber: "SN-\(id)", type: type, tenant: tenant, tags: tags)
    }

    func registryError(_ body: () async throws -> Void) async -> RegistryError? {
        do { try await body() } catch let error as RegistryError { return error } catch { return nil }
        return nil
    }

    @Test("one registration: rules broken are .invalid, a taken id or serial is .conflict, a good one has a claim code")
    func registersOne() async throws {
        let registered = try await registry.register(registration("lock-1", type: "digital-lock", tags: ["floor-2"]), actor: "t")
        #expect(registered.device.lifecycleState == .registered)
        #expect(registered.device.tags == ["floor-2"])
        #expect(registered.claimCode.count >= 16)

        let semicolon = await registryError { _ = try await registry.register(registration("lock-2", tags: ["a;b"]), actor: "t") }
        #expect(semicolon == .invalid("tag \"a;b\" contains ';', which separates tags"))
        let unknownType = await registryError { _ = try await registry.register(registration("lock-3", type: "toaster"), actor: "t") }
        guard case .invalid(let reason)? = unknownType else { Issue.record("unknown type accepted"); return }
        #expect(reason.contains("toaster"))
        let badID = await registryError { _ = try await registry.register(registration("cip-bridge"), actor: "t") }
        guard case .invalid? = badID else { Issue.record("a reserved device id was accepted"); return }
        let again = await registryError { _ = try await registry.register(registration("lock-1"), actor: "t") }
        guard case .conflict? = again else { Issue.record("a taken id registered twice"); return }
        #expect(try await repository.device("lock-2") == nil)

        // The caller's scope: a broken field is reported first, then a tenant outside it, and nothing is written.
        let north: (String) -> Bool = { $0 == "north" }
        let both = await registryError {
            _ = try await registry.register(registration("lock-4", tenant: "south", tags: ["a;b"]), actor: "t", inScope: north)
        }
        guard case .invalid? = both else { Issue.record("scope checked before the fields"); return }
        let outside = await registryError { _ = try await registry.register(registration("lock-4", tenant: "south"), actor: "t", inScope: north) }
        #expect(outside == .outOfScope(tenant: "south"))
        #expect(try await repository.device("lock-4") == nil)
        let moved = await registryError {
            _ = try await registry.update("lock-1", with: DevicePatch(tenant: "south"), actor: "t", client: nil, inScope: north)
        }
        #expect(moved == .outOfScope(tenant: "south"))
        #expect(try await repository.device("lock-1")?.tenant == "home-care")
    }

    @Test("a CSV import rejects rows outside the caller's tenants with their line; atomic registers nothing then")
    func importsInScope() async throws {
        let csv = Array("""
            device_id,serial_number,type,tenant
            s-1,SN1,sensor,home-care
            s-2,SN2,sensor,other-town
            s-3,SN3,toaster,home-care
            """.utf8)
        let atomic = try await registry.importCSV(csv, atomic: true, actor: "t", inScope: { $0 == "home-care" })
        #expect(atomic.registered.isEmpty)
        #expect(atomic.rejected.map(\.line) == [3, 4])
        #expect(try await repository.device("s-1") == nil, "atomic: nothing registered")

        let partial = try await registry.importCSV(csv, atomic: false, actor: "t", inScope: { $0 == "home-care" })
        #expect(partial.registered.map(\.device.deviceId) == ["s-1"])
        #expect(partial.rejected.first { $0.line == 3 }?.reason == "tenant other-town is not one of this client's")
        #expect(try await repository.device("s-2") == nil)

        let unreadable = await registryError { _ = try await registry.importCSV(Array("no header\u{0}".utf8), atomic: false, actor: "t") }
        guard case .invalid(let reason)? = unreadable else { Issue.record("an unreadable file was accepted"); return }
        #expect(reason.hasPrefix("the CSV file cannot be read"))
    }

    @Test("lifecycle changes go through the state machine and reach the broker; a broker away does not undo them")
    func changesReachTheBroker() async throws {
        _ = try await registry.register(registration("s-1"), actor: "t")
        _ = try await repository.apply(.provision, to: "s-1", actor: "claim", client: nil, reason: nil)

        let noReason = await registryError {
            _ = try await registry.change(.decommission, deviceId: "s-1", actor: "t", client: nil, reason: "")
        }
        guard case .invalid? = noReason else { Issue.record("decommissioned without a reason"); return }

        let suspended = try await registry.change(.suspend, deviceId: "s-1", actor: "t", client: "c", reason: "lost")
        #expect(suspended.lifecycleState == .suspended)
        #expect(broker.enforced.last?.deviceId == "s-1" && broker.enforced.last?.state == .suspended)

        // Suspended while provisioned: resume goes back to provisioned, not active.
        broker.setFailing(true)
        let resumed = try await registry.change(.resume, deviceId: "s-1", actor: "t", client: "c", reason: nil)
        #expect(resumed.lifecycleState == .provisioned)
        #expect(try await repository.device("s-1")?.lifecycleState == .provisioned, "the change stands without the broker")
        #expect(broker.enforced.count == 1, "the broker was away for the resume")

        let illegal = await registryError { _ = try await registry.change(.resume, deviceId: "s-1", actor: "t", client: nil, reason: nil) }
        guard case .lifecycle? = illegal else { Issue.record("resumed a device that is not suspended"); return }
        let missing = await registryError { _ = try await registry.change(.suspend, deviceId: "nobody", actor: "t", client: nil, reason: nil) }
        #expect(missing == .notFound(deviceId: "nobody"))
    }

    @Test("a metadata change that changes nothing or breaks a field rule is .invalid and writes nothing")
    func updatesByTheRules() async throws {
        _ = try await registry.register(registration("s-1"), actor: "t")
        let nothing = await registryError { _ = try await registry.update("s-1", with: DevicePatch(), actor: "t", client: nil) }
        #expect(nothing == .invalid("the body changes nothing"))
        let emptyTenant = await registryError { _ = try await registry.update("s-1", with: DevicePatch(tenant: ""), actor: "t", client: nil) }
        #expect(emptyTenant == .invalid("tenant cannot be empty"))
        let personalNumber = await registryError {
            _ = try await registry.update("s-1", with: DevicePatch(careRecipientRef: "19121212-1212"), actor: "t", client: nil)
        }
        guard case .invalid? = personalNumber else { Issue.record("a personal identity number was stored"); return }
        #expect(try await repository.history("s-1").count == 1, "only the registration is in the history")

        let changed = try await registry.update("s-1", with: DevicePatch(placement: "hall"), actor: "t", client: "c")
        #expect(changed.placement == "hall")
    }
}
