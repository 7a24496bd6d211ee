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

/// An audit log whose writes wait until the test opens them, one by one.
final class GatedAuditLog: AuditLog {
    let written = Mutex<[AuditRecord]>([])
    private let gate = Mutex((started: 0, opened: 0))

    func open(_ writes: Int) { gate.withLock { $0.opened += writes } }

    func waitForWrites(started count: Int) async throws {
        while gate.withLock({ $0.started }) < count { try await Task.sleep(for: .milliseconds(1)) }
    }

    func write(_ batch: [AuditRecord]) async throws {
        let number = gate.withLock { gate -> Int in gate.started += 1; return gate.started }
        while gate.withLock({ $0.opened }) < number { try await Task.sleep(for: .milliseconds(1)) }
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

    @Test("the first caller is answered once its own line is written, while the lines that came after it are still being written")
    func theLeaderHandsOver() async throws {
        let log = GatedAuditLog()
        let trail = AuditTrail(log: log, logger: Logger(label: "test"))
        let first = Task { await trail.record(Self.line(0)) }
        try await log.waitForWrites(started: 1)            // the first caller writes its line...
        let others = (1...5).map { n in Task { await trail.record(Self.line(n)) } }
        try await Task.sleep(for: .milliseconds(50))         // ...while five more callers queue behind it
        log.open(1)                                          // its write completes; the next one stays shut
        let answered = await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await first.value }
            group.addTask { try? await Task.sleep(for: .seconds(20)); return nil }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        #expect(answered == true, "the first caller went on writing the others' lines instead of answering")
        try await log.waitForWrites(started: 2)              // one of the others leads the next write
        log.open(100)
        for other in others { #expect(await other.value) }
        #expect(log.written.withLock { $0.count } == 6)
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
        #expect(log.written.withLock { $0.first?.status } == 503, "kept as what happened: the read was refused")
        #expect(log.written.withLock { $0.first?.records } == 0)
        #expect(await trail.record(Self.line(2)))
    }
}
