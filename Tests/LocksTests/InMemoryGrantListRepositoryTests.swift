import Locks
import Testing

/// The in-memory grant lists behave as `PostgresGrantListRepository`: the lists to publish, retired locks, versions.
@Suite struct InMemoryGrantListRepositoryTests {
    static let now: Int64 = 1_800_000_000_000_000
    static let day: Int64 = 86_400_000_000

    static func device(_ id: String, _ state: String, type: String = "digital-lock") -> InMemoryGrantListRepository.Device {
        .init(deviceId: id, tenant: "north", type: type, lifecycleState: state)
    }

    @Test("active locks get their grants, out-of-service locks once sent a list get an empty one, decommissioned are retired")
    func listsAndRetired() async throws {
        let grants = InMemoryGrantRepository(clock: { Self.now })
        let devices = [Self.device("lock-a", "active"), Self.device("lock-b", "active"), Self.device("lock-s", "suspended"),
                       Self.device("lock-never", "suspended"), Self.device("lock-d", "decommissioned"),
                       Self.device("sensor-1", "active", type: "sensor")]
        let lists = InMemoryGrantListRepository(grants: grants, devices: { devices }, clock: { Self.now })
        _ = try await grants.create(NewGrant(staffRef: "staff-1", validFromMicros: Self.now - Self.day, validToMicros: Self.now + Self.day,
                                             weekly: nil, source: .manual, visitRef: nil, reason: nil),
                                    deviceId: "lock-a", grantedBy: "t")
        _ = try await grants.create(NewGrant(staffRef: "staff-2", validFromMicros: Self.now - 2 * Self.day, validToMicros: Self.now - Self.day,
                                             weekly: nil, source: .manual, visitRef: nil, reason: nil),
                                    deviceId: "lock-a", grantedBy: "t")
        for id in ["lock-s", "lock-d"] {
            let version = try await lists.reserveVersion(id)
            try await lists.recordPublished(GrantListState(deviceId: id, version: version, contentHash: [1], grantCount: 1,
                                                           publishedAtMicros: Self.now))
        }

        let toPublish = try await lists.listsToPublish(lockTypes: ["digital-lock"], nowMicros: Self.now, untilMicros: Self.now + 7 * Self.day)
        #expect(toPublish.map(\.deviceId) == ["lock-a", "lock-b", "lock-s"])
        #expect(toPublish.map { $0.entries.map(\.staffRef) } == [["staff-1"], [], []], "an ended grant is left out")
        #expect(try await lists.retired() == ["lock-d"])
        try await lists.forget("lock-d")
        #expect(try await lists.retired().isEmpty)
    }

    @Test("a version is reserved once; a published state is recorded only upwards and only when reserved")
    func versions() async throws {
        let lists = InMemoryGrantListRepository(grants: InMemoryGrantRepository(), devices: { [] }, clock: { Self.now })
        #expect(try await lists.reserveVersion("lock-a") == 1)
        #expect(try await lists.reserveVersion("lock-a") == 2)
        func record(_ version: Int64) async throws {
            try await lists.recordPublished(GrantListState(deviceId: "lock-a", version: version, contentHash: [UInt8(version)],
                                                           grantCount: Int(version), publishedAtMicros: Self.now + version))
        }
        try await record(2)
        try await record(1)
        try await record(3)
        let state = try await lists.states()["lock-a"]
        #expect(state?.version == 2)
        #expect(state?.grantCount == 2)
        #expect(lists.held(deviceId: "lock-a", version: 2, atMicros: Self.now))
        #expect(!lists.held(deviceId: "lock-a", version: 3, atMicros: Self.now))
        #expect(try await lists.states()["lock-a"]?.heldVersion == 2)
    }
}
