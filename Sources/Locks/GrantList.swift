import Digest
import Foundation
import Models
import Synchronization

/// The grants a lock may decide with on its own while offline: those in force now or starting within the horizon
/// (default 7 days), as the lock needs them (staff, window, weekly window in the city's time zone). Published
/// retained on `commands/<deviceId>/grants` with a version that goes up whenever the content changes; the lock
/// reports the version it holds (`grant_list_loaded`).
public struct GrantList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Encodable {
        public var grantId: Int64
        public var staffRef: String
        public var validFrom: String?
        public var validTo: String?
        public var weekly: Weekly?

        public struct Weekly: Sendable, Equatable, Encodable {
            /// ISO weekdays, 1 = Monday.
            public var days: [Int]
            public var start: String
            public var end: String
        }
    }

    public var deviceId: String
    public var entries: [Entry]

    /// The list of `grants` (one lock's) for a lock at `nowMicros`: in force now or starting before `untilMicros`,
    /// a revocation ahead being the grant's end. Sorted by grant id, so the same grants give the same content.
    public static func of(deviceId: String, grants: [AccessGrant], nowMicros: Int64, untilMicros: Int64) -> GrantList {
        let time = { (micros: Int64) in RFC3339.format(micros: micros) }
        let entries = grants.filter { grant in
            let end = min(grant.validToMicros ?? .max, grant.revokedAtMicros ?? .max)
            return grant.deviceId == deviceId && end > nowMicros && (grant.validFromMicros ?? .min) < untilMicros
        }.sorted { $0.id < $1.id }.map { grant in
            let end = min(grant.validToMicros ?? .max, grant.revokedAtMicros ?? .max)
            return Entry(grantId: grant.id, staffRef: grant.staffRef, validFrom: grant.validFromMicros.map(time),
                         validTo: end == .max ? nil : time(end),
                         weekly: grant.weekly.map { window in
                             Entry.Weekly(days: window.days.sorted(), start: WeeklyWindow.clockText(window.startMinute), end: WeeklyWindow.clockText(window.endMinute))
                         })
        }
        return GrantList(deviceId: deviceId, entries: entries)
    }

    /// The content that versions are counted on (no version, no time of publishing).
    public var content: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(entries)) ?? Data())
    }

    public var contentHash: [UInt8] { SHA256.hash(content) }

    /// What the lock receives.
    public func payload(version: Int64) -> [UInt8] {
        let grants = String(decoding: content, as: UTF8.self)
        return Array(#"{"deviceId":"\#(deviceId)","grants":\#(grants),"timeZone":"Europe/Stockholm","version":\#(version)}"#.utf8)
    }

    public var topic: String { Self.topic(deviceId) }

    public static func topic(_ deviceId: String) -> String { "commands/\(deviceId)/grants" }
}

/// What was published to a lock and what it holds.
public struct GrantListState: Sendable, Equatable {
    public var deviceId: String
    public var version: Int64
    public var contentHash: [UInt8]
    public var grantCount: Int
    public var publishedAtMicros: Int64
    public var heldVersion: Int64?
    public var heldAtMicros: Int64?

    public init(deviceId: String, version: Int64, contentHash: [UInt8], grantCount: Int, publishedAtMicros: Int64,
                heldVersion: Int64? = nil, heldAtMicros: Int64? = nil) {
        self.deviceId = deviceId
        self.version = version
        self.contentHash = contentHash
        self.grantCount = grantCount
        self.publishedAtMicros = publishedAtMicros
        self.heldVersion = heldVersion
        self.heldAtMicros = heldAtMicros
    }

    /// Stale: published longer than `graceMicros` ago and the lock does not confirm holding it.
    public func isStale(nowMicros: Int64, graceMicros: Int64) -> Bool {
        (heldVersion ?? 0) < version && nowMicros - publishedAtMicros > graceMicros
    }
}

/// Grant lists of locks (table `lock_grant_lists`) and the grants they are made of.
public protocol GrantListRepository: Sendable {
    /// Every active lock's grants in force now or starting before `untilMicros` (an empty list for a lock without),
    /// and an empty list for each lock out of service (suspended, not yet active again) that was sent one: what it
    /// held must not open the door while it is out of service.
    func listsToPublish(lockTypes: [String], nowMicros: Int64, untilMicros: Int64) async throws -> [GrantList]
    /// Decommissioned locks that still have a published list: their retained list is cleared and forgotten.
    func retired() async throws -> [String]
    func forget(_ deviceId: String) async throws
    func states() async throws -> [String: GrantListState]
    /// Takes the next version number for a lock's list (never handed out twice).
    func reserveVersion(_ deviceId: String) async throws -> Int64
    func recordPublished(_ state: GrantListState) async throws
    /// Locks (of `tenants`; nil: all) whose list is stale.
    func stale(tenants: [String]?, nowMicros: Int64, graceMicros: Int64) async throws -> [GrantListState]
}

/// Grant lists in memory, for router tests. The devices table the Postgres repository joins is read through
/// `devices` (the registry's, in a test), and the grants are those of an `InMemoryGrantRepository`.
public final class InMemoryGrantListRepository: GrantListRepository {
    /// What the grant lists need of a device's row.
    public struct Device: Sendable {
        public var deviceId: String
        public var tenant: String
        public var type: String
        /// A lifecycle state's name: `active`, `suspended`, `decommissioned`, ...
        public var lifecycleState: String

        public init(deviceId: String, tenant: String, type: String, lifecycleState: String) {
            self.deviceId = deviceId
            self.tenant = tenant
            self.type = type
            self.lifecycleState = lifecycleState
        }
    }

    /// A row of `lock_grant_lists`: the published state, and the highest version handed out.
    private struct Row {
        var list: GrantListState
        var reserved: Int64
    }

    private let rows = Mutex<[String: Row]>([:])
    private let grants: InMemoryGrantRepository
    private let devices: @Sendable () async throws -> [Device]
    private let clock: @Sendable () -> Int64

    public init(grants: InMemoryGrantRepository, devices: @escaping @Sendable () async throws -> [Device],
                clock: @escaping @Sendable () -> Int64 = { systemMicros() }) {
        self.grants = grants
        self.devices = devices
        self.clock = clock
    }

    /// What the lock monitor records when a lock reports the version it holds; a version never published is
    /// ignored (false).
    @discardableResult
    public func held(deviceId: String, version: Int64, atMicros: Int64) -> Bool {
        rows.withLock { rows in
            guard var row = rows[deviceId], version >= 1, version <= row.list.version else { return false }
            row.list.heldVersion = version
            row.list.heldAtMicros = atMicros
            rows[deviceId] = row
            return true
        }
    }

    private func devicesByID() async throws -> [String: Device] {
        Dictionary(try await devices().map { ($0.deviceId, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func listsToPublish(lockTypes: [String], nowMicros: Int64, untilMicros: Int64) async throws -> [GrantList] {
        let devices = try await devicesByID()
        let active = devices.values.filter { $0.lifecycleState == "active" && lockTypes.contains($0.type) }.map(\.deviceId)
        let outOfService = rows.withLock { rows in
            rows.filter { id, row in
                row.list.version > 0 && devices[id].map { !["active", "decommissioned"].contains($0.lifecycleState) } == true
            }.map(\.key)
        }
        var lists: [GrantList] = []
        for deviceId in active {
            let all = try await grants.grants(deviceId: deviceId, includeEnded: true, nowMicros: nowMicros, beforeId: nil, limit: .max)
            lists.append(GrantList.of(deviceId: deviceId, grants: all, nowMicros: nowMicros, untilMicros: untilMicros))
        }
        lists += outOfService.map { GrantList(deviceId: $0, entries: []) }
        return lists.sorted { $0.deviceId < $1.deviceId }
    }

    public func retired() async throws -> [String] {
        let devices = try await devicesByID()
        return rows.withLock { rows in rows.keys.filter { devices[$0]?.lifecycleState == "decommissioned" }.sorted() }
    }

    public func forget(_ deviceId: String) async throws {
        _ = rows.withLock { $0.removeValue(forKey: deviceId) }
    }

    public func states() async throws -> [String: GrantListState] {
        rows.withLock { $0.mapValues(\.list) }
    }

    public func reserveVersion(_ deviceId: String) async throws -> Int64 {
        let now = clock()
        return rows.withLock { rows in
            var row = rows[deviceId]
                ?? Row(list: GrantListState(deviceId: deviceId, version: 0, contentHash: [], grantCount: 0, publishedAtMicros: now),
                       reserved: 0)
            row.reserved += 1
            rows[deviceId] = row
            return row.reserved
        }
    }

    public func recordPublished(_ published: GrantListState) async throws {
        rows.withLock { rows in
            guard var row = rows[published.deviceId], row.list.version < published.version,
                  row.reserved >= published.version else { return }
            row.list.version = published.version
            row.list.contentHash = published.contentHash
            row.list.grantCount = published.grantCount
            row.list.publishedAtMicros = published.publishedAtMicros
            rows[published.deviceId] = row
        }
    }

    public func stale(tenants: [String]?, nowMicros: Int64, graceMicros: Int64) async throws -> [GrantListState] {
        let devices = try await devicesByID()
        let stale = rows.withLock { $0.values.map(\.list) }.filter { list in
            guard let device = devices[list.deviceId], device.lifecycleState == "active" else { return false }
            return list.isStale(nowMicros: nowMicros, graceMicros: graceMicros) && (tenants?.contains(device.tenant) ?? true)
        }
        return Array(stale.sorted { ($0.publishedAtMicros, $0.deviceId) < ($1.publishedAtMicros, $1.deviceId) }.prefix(1000))
    }
}
