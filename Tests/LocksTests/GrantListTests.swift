import Foundation
import Models
import Testing
@testable import Locks

/// What a lock's grant list holds, and when its content (and so its version) changes.
@Suite struct GrantListTests {
    static let now: Int64 = 1_800_000_000_000_000
    static let day: Int64 = 86_400_000_000

    static func grant(_ id: Int64, lock: String = "lock-1", from: Int64? = nil, to: Int64?, revoked: Int64? = nil,
                      weekly: WeeklyWindow? = nil) -> AccessGrant {
        AccessGrant(id: id, deviceId: lock, staffRef: "staff-\(id)", validFromMicros: from, validToMicros: to, weekly: weekly,
                    source: .manual, visitRef: nil, grantedBy: "t", reason: nil, createdAtMicros: 0, revokedAtMicros: revoked)
    }

    @Test("in force now or starting within the horizon; ended, revoked, far-future and other locks' grants are left out")
    func selection() {
        let grants = [
            Self.grant(1, from: Self.now - Self.day, to: Self.now + Self.day),          // in force
            Self.grant(2, from: Self.now + 2 * Self.day, to: Self.now + 3 * Self.day),  // starts within 7 days
            Self.grant(3, from: Self.now + 8 * Self.day, to: Self.now + 9 * Self.day),  // beyond the horizon
            Self.grant(4, to: Self.now - 1),                                             // ended
            Self.grant(5, to: Self.now + Self.day, revoked: Self.now - 1),               // revoked
            Self.grant(6, lock: "lock-2", to: Self.now + Self.day),                      // another lock
            Self.grant(7, to: Self.now + Self.day, revoked: Self.now + 3_600_000_000),   // ends at its revocation ahead
        ]
        let list = GrantList.of(deviceId: "lock-1", grants: grants.shuffled(), nowMicros: Self.now, untilMicros: Self.now + 7 * Self.day)
        #expect(list.entries.map(\.grantId) == [1, 2, 7])
        #expect(list.entries.last?.validTo == "2027-01-15T09:00:00.000000Z")
        #expect(list.topic == "commands/lock-1/grants")
    }

    @Test("the same grants in any order hash the same; a revocation or a new grant changes the hash")
    func contentHash() {
        let a = Self.grant(1, to: Self.now + Self.day), b = Self.grant(2, to: Self.now + Self.day,
                                                                        weekly: WeeklyWindow(days: [6, 7], startMinute: 1320, endMinute: 420))
        let one = GrantList.of(deviceId: "lock-1", grants: [a, b], nowMicros: Self.now, untilMicros: Self.now + Self.day)
        let two = GrantList.of(deviceId: "lock-1", grants: [b, a], nowMicros: Self.now, untilMicros: Self.now + Self.day)
        #expect(one.contentHash == two.contentHash)
        var revoked = b
        revoked.revokedAtMicros = Self.now + 60_000_000
        #expect(GrantList.of(deviceId: "lock-1", grants: [a, revoked], nowMicros: Self.now, untilMicros: Self.now + Self.day).contentHash
                != one.contentHash)
        let payload = String(decoding: one.payload(version: 4), as: UTF8.self)
        #expect(payload.contains(#""version":4"#) && payload.contains(#""start":"22:00""#) && payload.contains(#""days":[6,7]"#), "\(payload)")
        #expect((try? JSONSerialization.jsonObject(with: Data(one.payload(version: 4)))) != nil, "the payload is JSON")
    }

    @Test("stale: published longer than the grace ago and not confirmed")
    func stale() {
        var state = GrantListState(deviceId: "lock-1", version: 3, contentHash: [], grantCount: 1, publishedAtMicros: Self.now)
        #expect(!state.isStale(nowMicros: Self.now + 1_000_000, graceMicros: 2_000_000))
        #expect(state.isStale(nowMicros: Self.now + 3_000_000, graceMicros: 2_000_000))
        state.heldVersion = 3
        #expect(!state.isStale(nowMicros: Self.now + 3_000_000, graceMicros: 2_000_000))
    }
}
