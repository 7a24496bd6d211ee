import Foundation
import Locks
import Models
import Testing

/// Grants decide at their edges exactly, in local time across daylight-saving changes.
@Suite struct GrantScheduleTests {
    let schedule = GrantSchedule()

    /// Microseconds of an RFC 3339 UTC time.
    static func utc(_ text: String) -> Int64 {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return Int64((formatter.date(from: text)!.timeIntervalSince1970 * 1e6).rounded())
    }

    func grant(id: Int64 = 1, staff: String = "staff-1", from: String? = nil, to: String? = nil, weekly: WeeklyWindow? = nil,
               revoked: String? = nil) -> AccessGrant {
        AccessGrant(id: id, deviceId: "lock-1", staffRef: staff, validFromMicros: from.map(Self.utc),
                    validToMicros: to.map(Self.utc), weekly: weekly, source: .manual, visitRef: nil, grantedBy: "t",
                    reason: nil, createdAtMicros: 0, revokedAtMicros: revoked.map(Self.utc))
    }

    @Test("an absolute window opens at validFrom and closes at validTo, to the microsecond")
    func absoluteEdges() {
        let visit = grant(from: "2027-01-12T08:00:00Z", to: "2027-01-12T08:30:00Z")
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T08:00:00Z") - 1) == .notYetValid)
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T08:00:00Z")) == nil)
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T08:30:00Z") - 1) == nil)
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T08:30:00Z")) == .expired)
    }

    @Test("a revocation ahead (alarm visit: resolution + margin) allows until then and refuses from then, to the microsecond")
    func futureRevocationEdges() {
        // Acknowledged 10:00, cap 22:00; resolved 10:40 + 15 min margin: revoked at 10:55, set while it was still ahead.
        let visit = grant(from: "2027-01-12T10:00:00Z", to: "2027-01-12T22:00:00Z", revoked: "2027-01-12T10:55:00Z")
        let end = Self.utc("2027-01-12T10:55:00Z")
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T10:00:00Z") - 1) == .notYetValid)
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T10:00:00Z")) == nil)
        #expect(schedule.refusal(of: visit, atMicros: Self.utc("2027-01-12T10:40:00Z")) == nil, "after the resolution, inside the margin")
        #expect(schedule.refusal(of: visit, atMicros: end - 1) == nil)
        #expect(schedule.refusal(of: visit, atMicros: end) == .revoked)
        #expect(schedule.refusal(of: visit, atMicros: end + 3_600_000_000) == .revoked, "revoked, not merely expired, after its end")
        #expect(schedule.decide(staffRef: "staff-1", grants: [visit], atMicros: end - 1) == .allowed(grantId: 1))
        #expect(schedule.decide(staffRef: "staff-1", grants: [visit], atMicros: end) == .refused(.revoked))
        // The cap still holds when the revocation would come later than validTo (an alarm resolved at the cap).
        let capped = grant(from: "2027-01-12T10:00:00Z", to: "2027-01-12T22:00:00Z", revoked: "2027-01-12T22:10:00Z")
        #expect(schedule.refusal(of: capped, atMicros: Self.utc("2027-01-12T22:00:00Z") - 1) == nil)
        #expect(schedule.refusal(of: capped, atMicros: Self.utc("2027-01-12T22:00:00Z")) == .expired)
    }

    @Test("a night window 22:00–07:00 follows the clocks across the spring change (an 8-hour night)")
    func springNight() {
        // Saturday 2027-03-27 22:00 CET = 21:00Z; Sunday 2027-03-28 07:00 CEST = 05:00Z (clocks go 02:00 → 03:00).
        let night = grant(weekly: WeeklyWindow(days: [6], startMinute: 22 * 60, endMinute: 7 * 60))
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-03-27T20:59:59Z")) == .outsideWindow)
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-03-27T21:00:00Z")) == nil)
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-03-28T01:30:00Z")) == nil, "inside, after the change")
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-03-28T04:59:59Z")) == nil)
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-03-28T05:00:00Z")) == .outsideWindow,
                "07:00 local is 05:00Z after the change, not 06:00Z")
    }

    @Test("a night window 22:00–07:00 follows the clocks across the autumn change (a 10-hour night)")
    func autumnNight() {
        // Saturday 2027-10-30 22:00 CEST = 20:00Z; Sunday 2027-10-31 07:00 CET = 06:00Z (clocks go 03:00 → 02:00).
        let night = grant(weekly: WeeklyWindow(days: [6], startMinute: 22 * 60, endMinute: 7 * 60))
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-10-30T19:59:59Z")) == .outsideWindow)
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-10-30T20:00:00Z")) == nil)
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-10-31T05:59:59Z")) == nil)
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-10-31T06:00:00Z")) == .outsideWindow)
        // The night of Sunday is not in the window (only Saturday starts one).
        #expect(schedule.refusal(of: night, atMicros: Self.utc("2027-10-31T21:30:00Z")) == .outsideWindow)
    }

    @Test("a weekday morning window: the right days only, local time in winter and in summer")
    func weekdayMornings() {
        let mornings = grant(weekly: WeeklyWindow(days: [1, 2, 3, 4, 5], startMinute: 8 * 60, endMinute: 8 * 60 + 30))
        // Monday 2027-01-11 08:00 CET = 07:00Z; Monday 2027-06-14 08:00 CEST = 06:00Z.
        #expect(schedule.refusal(of: mornings, atMicros: Self.utc("2027-01-11T07:00:00Z")) == nil)
        #expect(schedule.refusal(of: mornings, atMicros: Self.utc("2027-01-11T07:29:59Z")) == nil)
        #expect(schedule.refusal(of: mornings, atMicros: Self.utc("2027-01-11T07:30:00Z")) == .outsideWindow)
        #expect(schedule.refusal(of: mornings, atMicros: Self.utc("2027-06-14T06:00:00Z")) == nil)
        #expect(schedule.refusal(of: mornings, atMicros: Self.utc("2027-06-14T07:00:00Z")) == .outsideWindow,
                "09:00 local in summer")
        // Saturday 2027-01-16 08:10 CET: not a weekday.
        #expect(schedule.refusal(of: mornings, atMicros: Self.utc("2027-01-16T07:10:00Z")) == .outsideWindow)
    }

    @Test("edges inside the spring gap are the change itself; the autumn repeat is its first hour; validFrom/validTo bound weekly windows")
    func gapAndBounds() {
        // 02:00–03:00 does not exist on 2027-03-28: an edge inside it is the change, 03:00 CEST = 01:00Z.
        let early = grant(weekly: WeeklyWindow(days: [7], startMinute: 2 * 60 + 30, endMinute: 4 * 60))
        #expect(schedule.refusal(of: early, atMicros: Self.utc("2027-03-28T00:59:59Z")) == .outsideWindow)
        #expect(schedule.refusal(of: early, atMicros: Self.utc("2027-03-28T01:00:00Z")) == nil)
        #expect(schedule.refusal(of: early, atMicros: Self.utc("2027-03-28T02:00:00Z")) == .outsideWindow, "04:00 CEST")
        // Start in the gap, end just after it: the part that exists stays (it does not vanish).
        let short = grant(weekly: WeeklyWindow(days: [7], startMinute: 2 * 60 + 30, endMinute: 3 * 60 + 15))
        #expect(schedule.refusal(of: short, atMicros: Self.utc("2027-03-28T01:10:00Z")) == nil)
        #expect(schedule.refusal(of: short, atMicros: Self.utc("2027-03-28T01:15:00Z")) == .outsideWindow)
        // End in the gap: the window closes at the change, not an hour later.
        let late = grant(weekly: WeeklyWindow(days: [7], startMinute: 60 + 30, endMinute: 2 * 60 + 30))
        #expect(schedule.refusal(of: late, atMicros: Self.utc("2027-03-28T00:30:00Z")) == nil, "01:30 CET")
        #expect(schedule.refusal(of: late, atMicros: Self.utc("2027-03-28T00:59:59Z")) == nil)
        #expect(schedule.refusal(of: late, atMicros: Self.utc("2027-03-28T01:00:00Z")) == .outsideWindow)
        // Wholly inside the gap: nothing of it exists that night.
        let gone = grant(weekly: WeeklyWindow(days: [7], startMinute: 2 * 60, endMinute: 3 * 60))
        #expect(schedule.refusal(of: gone, atMicros: Self.utc("2027-03-28T01:00:00Z")) == .outsideWindow)
        // The autumn repeat: 02:30 is its first occurrence (02:30 CEST = 00:30Z on 2027-10-31).
        let repeatHour = grant(weekly: WeeklyWindow(days: [7], startMinute: 2 * 60 + 30, endMinute: 2 * 60 + 45))
        #expect(schedule.refusal(of: repeatHour, atMicros: Self.utc("2027-10-31T00:35:00Z")) == nil)

        let bounded = grant(from: "2027-01-13T00:00:00Z", to: "2027-01-20T00:00:00Z",
                            weekly: WeeklyWindow(days: [1], startMinute: 8 * 60, endMinute: 9 * 60))
        #expect(schedule.refusal(of: bounded, atMicros: Self.utc("2027-01-11T07:30:00Z")) == .notYetValid)
        #expect(schedule.refusal(of: bounded, atMicros: Self.utc("2027-01-18T07:30:00Z")) == nil)
        #expect(schedule.refusal(of: bounded, atMicros: Self.utc("2027-01-25T07:30:00Z")) == .expired)
    }

    @Test("the decision: only the staff member's grants count, any one allows, else the reason closest to allowing")
    func decisions() {
        let at = Self.utc("2027-01-12T08:10:00Z")
        let grants = [
            grant(id: 1, staff: "staff-1", from: "2027-01-12T09:00:00Z", to: "2027-01-12T10:00:00Z"),
            grant(id: 2, staff: "staff-1", from: "2027-01-11T08:00:00Z", to: "2027-01-11T09:00:00Z"),
            grant(id: 3, staff: "staff-2", from: "2027-01-12T08:00:00Z", to: "2027-01-12T09:00:00Z"),
            grant(id: 4, staff: "staff-3", from: "2027-01-12T08:00:00Z", to: "2027-01-12T09:00:00Z", revoked: "2027-01-12T08:05:00Z"),
        ]
        #expect(schedule.decide(staffRef: "staff-2", grants: grants, atMicros: at) == .allowed(grantId: 3))
        #expect(schedule.decide(staffRef: "staff-1", grants: grants, atMicros: at) == .refused(.notYetValid))
        #expect(schedule.decide(staffRef: "staff-3", grants: grants, atMicros: at) == .refused(.revoked))
        #expect(schedule.decide(staffRef: "staff-3", grants: grants, atMicros: Self.utc("2027-01-12T08:04:59Z")) == .allowed(grantId: 4),
                "revoked from the moment of revocation, not before")
        #expect(schedule.decide(staffRef: "nobody", grants: grants, atMicros: at) == .refused(.noGrant))
        #expect(schedule.decide(staffRef: "STAFF-2", grants: grants, atMicros: at) == .refused(.noGrant), "references are exact")
    }
}
