import Models
import Testing
@testable import Retention

@Suite struct RetentionPlanTests {
    static let day = RetentionCalendar.secondsPerDay
    /// 2026-11-30T12:00:00Z.
    static let now: Int64 = RetentionCalendar.dayStart(year: 2026, month: 11, day: 30)! + 12 * 3_600
    static let plan = RetentionPlan(quantityRetention: ["latitude": 30, "longitude": 30, "lock_state": 90, "temperature": 730],
                                    settings: RetentionSettings(rawMessageDays: 7, deadLetterDays: 3, careRecordDays: 1_826, auditDays: 3_653))

    static func partition(_ table: String, daysAgo: Int64, inserted: Int64 = 100) -> DailyPartition {
        let start = (now / day - daysAgo) * day
        let text = RetentionCalendarTests.text(start)
        return DailyPartition(table: table, name: "\(table)_p\(text)", insertedRows: inserted)!
    }

    @Test func partitionNamesAreParsedStrictly() {
        #expect(DailyPartition(table: "observations", name: "observations_p20261130")?.dayStart == RetentionCalendar.dayStart(year: 2026, month: 11, day: 30))
        for bad in ["observations_p2026113", "observations_p202611300", "observations_p20261131", "observations_p20260229",
                    "observations_default", "raw_messages_p20261130", "observations_p2026-1-30", "observations_p+2026113",
                    "observations_p19691231", "observations_p２０２６１１３０"] {
            #expect(DailyPartition(table: "observations", name: bad) == nil, "\(bad)")
        }
        #expect(DailyPartition(table: "observations", name: "observations_p20240229") != nil, "a leap day")
    }

    @Test func aDayOlderThanTheLongestRetentionIsDropped() {
        let old = Self.partition("observations", daysAgo: 732)
        let young = Self.partition("observations", daysAgo: 729)
        let tasks = Self.plan.tasks(now: Self.now, partitions: [young, old], purged: [])
        #expect(tasks.contains(.dropPartition(old)))
        #expect(!tasks.contains(.dropPartition(young)))
    }

    @Test func theDayOnTheEdgeIsKeptUntilItsLastSecondHasExpired() {
        // 730 days ago today: its end is 729.5 days ago, not yet older than 730 days.
        let edge = Self.partition("observations", daysAgo: 730)
        #expect(!Self.plan.tasks(now: Self.now, partitions: [edge], purged: []).contains(.dropPartition(edge)))
        let next = Self.partition("observations", daysAgo: 731)
        #expect(Self.plan.tasks(now: Self.now, partitions: [next], purged: []).contains(.dropPartition(next)))
    }

    @Test func aShorterGroupIsPurgedFromADayOnceItsWholeDayHasExpired() {
        let p31 = Self.partition("observations", daysAgo: 31)
        let p30 = Self.partition("observations", daysAgo: 30)
        let p100 = Self.partition("observations", daysAgo: 100)
        let tasks = Self.plan.tasks(now: Self.now, partitions: [p30, p31, p100], purged: [])
        #expect(tasks.contains(.purgePartition(p31, retentionDays: 30, quantities: ["latitude", "longitude"])))
        #expect(!tasks.contains { if case .purgePartition(p30, _, _) = $0 { true } else { false } })
        #expect(tasks.contains(.purgePartition(p100, retentionDays: 30, quantities: ["latitude", "longitude"])))
        #expect(tasks.contains(.purgePartition(p100, retentionDays: 90, quantities: ["lock_state"])))
        // The longest group goes with the whole day, never by a scan.
        #expect(!tasks.contains { if case .purgePartition(_, 730, _) = $0 { true } else { false } })
    }

    @Test func aPurgedDayIsNotScannedAgainUnlessItGrewOrItsGroupChanged() {
        let p40 = Self.partition("observations", daysAgo: 40, inserted: 500)
        let purged = PurgedPartition(partition: p40.name, retentionDays: 30, quantities: ["latitude", "longitude"], insertedRows: 500)
        #expect(!Self.plan.tasks(now: Self.now, partitions: [p40], purged: [purged]).contains { if case .purgePartition = $0 { true } else { false } })
        var grown = p40
        grown.insertedRows = 501
        #expect(Self.plan.tasks(now: Self.now, partitions: [grown], purged: [purged])
            .contains(.purgePartition(grown, retentionDays: 30, quantities: ["latitude", "longitude"])))
        let regrouped = RetentionPlan(quantityRetention: ["latitude": 30, "longitude": 30, "speed": 30, "temperature": 730],
                                      settings: Self.plan.settings)
        #expect(regrouped.tasks(now: Self.now, partitions: [p40], purged: [purged])
            .contains(.purgePartition(p40, retentionDays: 30, quantities: ["latitude", "longitude", "speed"])))
    }

    @Test func rawMessagesGoByTheirOwnRetention() {
        let raw8 = Self.partition("raw_messages", daysAgo: 8)
        let raw6 = Self.partition("raw_messages", daysAgo: 6)
        let tasks = Self.plan.tasks(now: Self.now, partitions: [raw6, raw8], purged: [])
        #expect(tasks.contains(.dropPartition(raw8)))
        #expect(!tasks.contains(.dropPartition(raw6)))
        #expect(!tasks.contains { if case .purgePartition(raw8, _, _) = $0 { true } else { false } })
        #expect(tasks.contains(.purgeRawMessagesDefault(expiredBefore: Self.now - 7 * Self.day)))
        #expect(tasks.contains(.purgeDeadLetters(expiredBefore: Self.now - 3 * Self.day)))
    }

    @Test func valuesOutsideTheDaysAndLatestValuesGoPerGroupAndUnknownQuantitiesWithTheLongest() {
        let tasks = Self.plan.tasks(now: Self.now, partitions: [], purged: [])
        for table in [ValueTable.observationsDefault, .latestObservations] {
            #expect(tasks.contains(.purgeValues(table: table, selection: .these(["latitude", "longitude"]), expiredBefore: Self.now - 30 * Self.day)))
            #expect(tasks.contains(.purgeValues(table: table, selection: .these(["lock_state"]), expiredBefore: Self.now - 90 * Self.day)))
            #expect(tasks.contains(.purgeValues(table: table, selection: .allBut(["latitude", "lock_state", "longitude", "temperature"]),
                                                expiredBefore: Self.now - 730 * Self.day)))
        }
    }

    @Test func careRecordsAndTheAuditTrailGoByTheirSettings() {
        let tasks = Self.plan.tasks(now: Self.now, partitions: [], purged: [])
        #expect(tasks.contains(.purgeEvents(expiredBefore: Self.now - 1_826 * Self.day)))
        #expect(tasks.contains(.purgeAlarms(retentionDays: 1_826)))
        #expect(tasks.contains(.purgeDeviceHistory(retentionDays: 1_826)))
        #expect(tasks.contains(.purgeCareRecipientLinks(retentionDays: 1_826)))
        #expect(tasks.contains(.purgeAudit(retentionDays: 3_653)))
        #expect(tasks.contains(.purgeGeofenceStates(expiredBefore: Self.now - 30 * Self.day)), "positions' retention")
    }

    @Test func oldestDaysComeFirst() {
        let partitions = [400, 800, 35, 900].map { Self.partition("observations", daysAgo: $0) }
        let days = Self.plan.tasks(now: Self.now, partitions: partitions, purged: []).compactMap { task -> Int64? in
            switch task {
            case .dropPartition(let p): p.dayStart
            case .purgePartition(let p, _, _): p.dayStart
            default: nil
            }
        }
        #expect(days == days.sorted())
    }

    @Test func settingsThatWouldKeepTooLongOrTooShortAreRefused() {
        #expect(RetentionSettings().problem(shortestCatalogueRetentionDays: 30) == nil)
        #expect(RetentionSettings(rawMessageDays: 31).problem(shortestCatalogueRetentionDays: 30) != nil)
        #expect(RetentionSettings(deadLetterDays: 0).problem(shortestCatalogueRetentionDays: 30) != nil)
        #expect(RetentionSettings(careRecordDays: 29).problem(shortestCatalogueRetentionDays: 30) != nil)
        #expect(RetentionSettings(auditDays: 364).problem(shortestCatalogueRetentionDays: 30) != nil)
    }
}

@Suite struct RetentionCalendarTests {
    /// YYYYMMDD of a day start, computed independently by walking days from 1970.
    static func text(_ start: Int64) -> String {
        var days = start / RetentionCalendar.secondsPerDay
        var year = 1970
        func leap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
        while days >= (leap(year) ? 366 : 365) { days -= leap(year) ? 366 : 365; year += 1 }
        var month = 1
        let lengths = [31, leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        while days >= lengths[month - 1] { days -= Int64(lengths[month - 1]); month += 1 }
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)\(two(month))\(two(Int(days) + 1))"
    }

    @Test func dayStartsAgreeWithAWalkOverEveryDayFrom1970To2100() {
        var start: Int64 = 0
        while start < 4_102_444_800 {  // 2100-01-01
            let text = Self.text(start)
            let value = Int(text)!
            #expect(RetentionCalendar.dayStart(year: value / 10_000, month: value / 100 % 100, day: value % 100) == start, "\(text)")
            start += RetentionCalendar.secondsPerDay * 37
        }
        #expect(RetentionCalendar.dayStart(year: 2026, month: 11, day: 30) == 1_795_996_800)
        #expect(RetentionCalendar.dayStart(year: 2026, month: 2, day: 29) == nil)
        #expect(RetentionCalendar.dayStart(year: 2000, month: 2, day: 29) != nil)
        #expect(RetentionCalendar.dayStart(year: 1900, month: 1, day: 1) == nil)
    }
}
