import Foundation
import Logging
import Synchronization
import Testing
@testable import Access

/// An audit log whose writes take `delay`, and that can be made to fail.
final class SlowAuditLog: AuditLog {
    let delay: Duration
    let written = Mutex<[AuditRecord]>([])
    let writes = Mutex(0)
    let failing = Mutex(false)

    init(delay: Duration) { self.delay = delay }

    func write(_ batch: [AuditRecord]) async throws {
        try await Task.sleep(for: delay)
        if failing.withLock({ $0 }) { throw CancellationError() }
        writes.withLock { $0 += 1 }
        written.withLock { $0 += batch }
    }

    func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?, limit: Int,
               tenants: [String]?, maxClass: Int) async throws -> [(id: Int64, record: AuditRecord)] { [] }
}

@Suite struct AuditTrailTests {
    static func line(_ n: Int) -> AuditRecord {
        AuditRecord(atMicros: Int64(n), client: "c\(n)", roles: "auditor", method: "GET", endpoint: "/x", path: "/x",
                    subjects: [], records: 1, dataClass: 3, status: 200)
    }

    @Test("a line is written before record returns; callers arriving together share writes")
    func groupCommit() async {
        let log = SlowAuditLog(delay: .milliseconds(20))
        let trail = AuditTrail(log: log, logger: Logger(label: "test"))
        await withTaskGroup(of: Bool.self) { group in
            for n in 0..<50 { group.addTask { await trail.record(Self.line(n)) } }
            for await stored in group { #expect(stored) }
        }
        #expect(log.written.withLock { Set($0.map(\.client)) }.count == 50)
        #expect(log.writes.withLock { $0 } < 50, "lines that waited together went in one write")
    }

    @Test("under a steady stream of callers the first one is answered once its own line is written, not when the stream ends")
    func theLeaderHandsOver() async throws {
        let log = SlowAuditLog(delay: .milliseconds(5))
        let trail = AuditTrail(log: log, logger: Logger(label: "test"))
        let producer = Task {
            for n in 1...400 {
                Task { _ = await trail.record(Self.line(n)) }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        let started = ContinuousClock.now
        #expect(await trail.record(Self.line(0)))
        let waited = ContinuousClock.now - started
        #expect(waited < .milliseconds(300), "the first caller waited \(waited) while the stream of others went on")
        await producer.value
    }

    @Test("a line that cannot be written is refused to its caller, kept, and written by the next flush")
    func failureIsRefusedAndKept() async {
        let log = SlowAuditLog(delay: .milliseconds(1))
        let trail = AuditTrail(log: log, logger: Logger(label: "test"))
        log.failing.withLock { $0 = true }
        #expect(await trail.record(Self.line(1)) == false)
        log.failing.withLock { $0 = false }
        await trail.flush()
        #expect(log.written.withLock { $0.map(\.client) } == ["c1"])
        #expect(await trail.record(Self.line(2)))
    }
}
