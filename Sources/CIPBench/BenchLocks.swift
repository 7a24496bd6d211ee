import ArgumentParser
import Composition
import Foundation
import Locks
import Logging
import Postgres

/// `cip-bench bench-locks`: a week's visit plan for a fleet of locks (4 visits a day each), imported and
/// re-imported through the repository's one-transaction replacement, and the unlock decision (read a staff
/// member's grants of one lock, decide in local time) against the bare indexed lookup of the same rows, measured
/// in the same run on the same connection pool.
struct BenchLocks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-locks", abstract: "Measure a week's visit-plan import and the unlock decision at fleet scale.")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Locks (one care recipient each).")
    var locks: Int = 10_000

    @Option(help: "Planned visits per lock and day.")
    var visitsPerDay: Int = 4

    @Option(help: "Decisions (and bare lookups) to time.")
    var decisions: Int = 20_000

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_locks"

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-locks")
        logger.logLevel = .warning
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let url = scratch.url
        try await scratch.registerDevices((0..<locks).map { "lock-\($0)" }, type: "digital-lock",
                                          careRecipientRefs: (0..<locks).map { "cr-\($0)" })
        let pool = PostgresPool(url: url, size: 2, logger: logger)
        let repository = PostgresGrantRepository(pool: pool)

        // A week from Monday 2027-01-11 00:00 CET; visits at 08, 12, 17, 21 local (+ more if asked), 30 minutes,
        // each by one of 2,000 staff members.
        let weekStart: Int64 = 1_799_622_000_000_000
        let hours = [8, 12, 17, 21] + Array(repeating: 10, count: max(0, visitsPerDay - 4))
        var planned: [PlanGrantKey] = []
        planned.reserveCapacity(locks * 7 * visitsPerDay)
        for lock in 0..<locks {
            for day in 0..<7 {
                for slot in 0..<visitsPerDay {
                    let start = weekStart + Int64(day) * 86_400_000_000 + Int64(hours[slot]) * 3_600_000_000 + Int64(slot) * 60_000_000
                    let visit = PlannedVisit(line: 0, visitRef: "v-\(lock)-\(day)-\(slot)", careRecipientRef: "cr-\(lock)",
                                             staffRef: "staff-\((lock + day * 7 + slot) % 2_000)", startMicros: start,
                                             endMicros: start + 1_800_000_000, marginMinutes: 15)
                    planned.append(PlanGrantKey(deviceId: "lock-\(lock)", visit: visit))
                }
            }
        }
        let scope = (0..<locks).map { "lock-\($0)" }
        let weekEnd = weekStart + 7 * 86_400_000_000
        print("cip-bench bench-locks: \(locks) locks, \(planned.count) visits in a week")

        let importStarted = Date()
        let first = try await repository.replacePlan(planned, deviceIds: scope, fromMicros: weekStart, toMicros: weekEnd, unreadVisits: [], by: "bench")
        let imported = Date().timeIntervalSince(importStarted)
        guard first.created == planned.count else { throw ValidationError("created \(first.created) of \(planned.count)") }
        print(String(format: "import: %d grants in %.2f s (%.0f visits/s)", first.created, imported, Double(first.created) / imported))
        let againStarted = Date()
        let again = try await repository.replacePlan(planned, deviceIds: scope, fromMicros: weekStart, toMicros: weekEnd, unreadVisits: [], by: "bench")
        let reimported = Date().timeIntervalSince(againStarted)
        guard again.created == 0, again.revoked == 0, again.unchanged == planned.count else {
            throw ValidationError("re-import changed something: \(again)")
        }
        print(String(format: "re-import of the same plan: nothing changed, %.2f s", reimported))
        try await scratch.execute("ANALYZE lock_grants")

        // The same random (lock, staff, time) questions for both.
        let questions = (0..<decisions).map { _ -> (lock: String, staff: String, at: Int64) in
            let key = planned[Int.random(in: 0..<planned.count)]
            return (key.deviceId, key.staffRef, key.validFromMicros + Int64.random(in: -600_000_000...3_600_000_000))
        }
        let schedule = GrantSchedule()
        var allowed = 0
        let decideStarted = DispatchTime.now().uptimeNanoseconds
        for question in questions {
            let grants = try await repository.grants(deviceId: question.lock, staffRef: question.staff)
            if case .allowed = schedule.decide(staffRef: question.staff, grants: grants, atMicros: question.at) { allowed += 1 }
        }
        let decide = Double(DispatchTime.now().uptimeNanoseconds - decideStarted) / 1e9 / Double(decisions)
        let lookupStarted = DispatchTime.now().uptimeNanoseconds
        var rows = 0
        for question in questions {
            rows += try await pool.withConnection { connection in
                try connection.query("SELECT id FROM lock_grants WHERE device_id = $1 AND staff_ref = $2",
                                     [question.lock, question.staff]).count
            }
        }
        let lookup = Double(DispatchTime.now().uptimeNanoseconds - lookupStarted) / 1e9 / Double(decisions)
        print(String(format: "decision (grants read + decided): %.1f µs (%.0f/s), %d of %d allowed", decide * 1e6, 1 / decide,
                     allowed, decisions))
        print(String(format: "bare indexed lookup of the same rows:  %.1f µs (%.0f/s), %d rows", lookup * 1e6, 1 / lookup, rows))
        print(String(format: "decision / lookup time = %.2f", decide / lookup))
        await pool.shutDown()
        await scratch.close()
    }
}
