import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The append-only ingest journal: every message the broker delivers is written here before the MQTT callback
/// returns, and so before the broker gets its PUBACK. A reader drains it into PostgreSQL; segments are deleted
/// once everything in them is committed. Bounded by disk, not memory.
///
/// Files in `directory`: `<first sequence, 20 digits>.seg` segments and `checkpoint` (last committed sequence).
public final class Journal: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var directory: String
        /// A segment is closed and a new one started past this size.
        public var segmentBytes: Int = 64 << 20
        /// Appends not marked urgent reach the disk (fdatasync) at most this long after they were written.
        /// They survive a crash of the gateway at once (they are in the kernel); the interval bounds what a power
        /// loss could take.
        public var syncInterval: Duration = .milliseconds(5)

        public init(directory: String) { self.directory = directory }
    }

    public let configuration: Configuration
    private let logger: Logger

    // Writer state, guarded by `lock`; appends come from the MQTT network thread.
    private let lock = NSLock()
    private var activeFD: Int32 = -1
    private var activeFirstSequence: UInt64 = 0
    private var activeSize = 0
    private var nextSequence: UInt64 = 1
    private var unsynced = false
    private var encodeBuffer: [UInt8] = []
    /// A failed write could not be cut back: continue in a new segment (readers step over a damaged tail).
    private var mustRollOver = false
    /// Tests only: the next write stores this many bytes and then fails as a full disk does.
    var injectedFullDiskAfterBytes: Int?

    /// What readers may see: segments and how far the active one is complete.
    private struct Visible {
        var segments: [UInt64]
        var activeFirstSequence: UInt64
        var activeEnd: Int
        var lastSequence: UInt64
        var committed: UInt64
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0
    }
    private let visible: Mutex<Visible>
    private let flusher: Flusher

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let directory = configuration.directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        let segments = try Self.listSegments(in: directory)
        var next: UInt64 = 1
        // Each segment is named by its first sequence, so only the newest one needs scanning.
        if let newest = segments.last {
            let last = try Self.lastValidSequence(in: Self.path(directory, newest))
            next = last.map { $0 + 1 } ?? newest
        }
        let committed = Self.readCheckpoint(directory) ?? 0
        next = max(next, committed + 1)
        nextSequence = next
        visible = Mutex(Visible(segments: segments, activeFirstSequence: next, activeEnd: 0,
                                lastSequence: next - 1, committed: committed))
        flusher = Flusher(interval: configuration.syncInterval)
        // Always write into a fresh segment: the tail of the previous one may be torn.
        try openSegment(startingAt: next)
        flusher.start { [weak self] in self?.syncIfNeeded() }
        if !segments.isEmpty {
            logger.info("journal opened", metadata: [
                "segments": "\(segments.count)", "committed": "\(committed)", "next": "\(next)",
            ])
        }
    }

    deinit {
        flusher.stop()
        if activeFD >= 0 {
            fdatasync(activeFD)
            close(activeFD)
        }
    }

    /// Appends one message and returns its sequence. With `urgent`, the record is on disk (fdatasync) before
    /// this returns; otherwise within `syncInterval`. Retries until it succeeds: a message is never dropped here
    /// (while the disk is full, the broker holds the message unacknowledged).
    @discardableResult
    public func append(topic: String, payload: [UInt8], receivedAtMicros: Int64, urgent: Bool = false) -> UInt64 {
        var attempt = 0
        while true {
            do {
                return try appendOnce(topic: topic, payload: payload, receivedAtMicros: receivedAtMicros, urgent: urgent)
            } catch {
                attempt += 1
                if attempt == 1 || attempt % 100 == 0 {
                    logger.error("journal append failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
                Thread.sleep(forTimeInterval: min(1.0, 0.01 * Double(attempt)))
            }
        }
    }

    private func appendOnce(topic: String, payload: [UInt8], receivedAtMicros: Int64, urgent: Bool) throws -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if mustRollOver || activeSize >= configuration.segmentBytes {
            try rollOver()
            mustRollOver = false
        }
        let sequence = nextSequence
        encodeBuffer.removeAll(keepingCapacity: true)
        // A payload larger than a record may hold would be read back as damage, and a reader cannot step over
        // damage inside a segment: every message after it would be lost. Keep a note of its size instead.
        let topicBytes = min(topic.utf8.count, Int(UInt16.max))
        let fits = JournalCodec.fixedBodySize + topicBytes + payload.count <= JournalCodec.maxBodySize
        JournalCodec.encode(JournalRecord(sequence: sequence, receivedAtMicros: receivedAtMicros, topic: topic,
                                          payload: fits ? payload : JournalRecord.oversizeNote(bytes: payload.count)),
                            into: &encodeBuffer)
        do {
            try writeAll(encodeBuffer, to: activeFD)
        } catch {
            // A partial write (a full disk) must not stay in the segment: the retry would append the record after
            // a torn one, and readers stop at a torn record. Cut the segment back to its last whole record; if that
            // fails too, the retry starts a new segment.
            if ftruncate(activeFD, off_t(activeSize)) != 0 { mustRollOver = true }
            throw error
        }
        activeSize += encodeBuffer.count
        if urgent {
            guard fdatasync(activeFD) == 0 else { throw JournalError.io("fdatasync", errno) }
        } else {
            unsynced = true
        }
        nextSequence += 1
        let end = activeSize
        let waiters = visible.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.activeEnd = end
            state.lastSequence = sequence
            guard !state.waiters.isEmpty else { return [] }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
        return sequence
    }

    /// Records that everything up to `sequence` is committed downstream, and deletes segments that hold
    /// nothing newer.
    public func markCommitted(through sequence: UInt64) {
        let deletable: [UInt64] = visible.withLock { state in
            guard sequence > state.committed else { return [] }
            state.committed = sequence
            var removed: [UInt64] = []
            // A segment is done when the next one starts at or before the first uncommitted sequence.
            while state.segments.count >= 2, state.segments[1] <= sequence + 1 {
                removed.append(state.segments.removeFirst())
            }
            return removed
        }
        writeCheckpoint(sequence)
        for first in deletable {
            if unlink(Self.path(configuration.directory, first)) != 0, errno != ENOENT {
                logger.warning("could not delete journal segment", metadata: ["segment": "\(first)", "errno": "\(errno)"])
            }
        }
    }

    /// Forces everything written so far to disk (at shutdown).
    public func sync() {
        lock.lock()
        defer { lock.unlock() }
        if activeFD >= 0 { fdatasync(activeFD) }
        unsynced = false
    }

    public var lastSequence: UInt64 { visible.withLock { $0.lastSequence } }
    public var committedSequence: UInt64 { visible.withLock { $0.committed } }
    /// Messages journaled but not yet committed downstream.
    public var backlog: UInt64 { visible.withLock { $0.lastSequence - min($0.lastSequence, $0.committed) } }
    public var segmentCount: Int { visible.withLock { $0.segments.count } }

    /// Returns when a record after `sequence` exists (at once if one does), after `timeout`, when the readers are
    /// woken, or when the task is cancelled. The timeout is a child task: nothing outlives the wait.
    public func waitForRecords(after sequence: UInt64, timeout: Duration? = nil) async {
        guard let timeout else { return await waitForRecord(after: sequence) }
        if lastSequence > sequence { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRecord(after: sequence) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waits for a record after `sequence`, a wake-up or cancellation.
    private func waitForRecord(after sequence: UInt64) async {
        let id = visible.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the lock: a cancellation flagged after this finds the waiter in the handler.
                let waiting = visible.withLock { state -> Bool in
                    if state.lastSequence > sequence || Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return true
                }
                if !waiting { continuation.resume() }
            }
        } onCancel: {
            visible.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Wakes every waiting reader (at shutdown).
    public func wakeReaders() {
        let waiters = visible.withLock { state in
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Reading

    struct ReadView {
        var segments: [UInt64]
        var activeFirstSequence: UInt64
        var activeEnd: Int
        var lastSequence: UInt64
    }

    func readView() -> ReadView {
        visible.withLock {
            ReadView(segments: $0.segments, activeFirstSequence: $0.activeFirstSequence,
                     activeEnd: $0.activeEnd, lastSequence: $0.lastSequence)
        }
    }

    func segmentPath(_ first: UInt64) -> String { Self.path(configuration.directory, first) }

    /// Opens a reader that yields records after `sequence`.
    public func reader(after sequence: UInt64) -> JournalReader {
        JournalReader(journal: self, after: sequence, logger: logger)
    }

    // MARK: - Segments

    private func rollOver() throws {
        if activeFD >= 0 {
            guard fdatasync(activeFD) == 0 else { throw JournalError.io("fdatasync", errno) }
            close(activeFD)
            activeFD = -1
        }
        unsynced = false
        try openSegment(startingAt: nextSequence)
    }

    private func openSegment(startingAt first: UInt64) throws {
        let path = Self.path(configuration.directory, first)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw JournalError.io("open \(path)", errno) }
        activeFD = fd
        activeFirstSequence = first
        activeSize = 0
        // Make the new file's directory entry durable too.
        let dir = open(configuration.directory, O_RDONLY | O_DIRECTORY)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
        visible.withLock { state in
            if state.segments.last != first { state.segments.append(first) }
            state.activeFirstSequence = first
            state.activeEnd = 0
        }
    }

    private func syncIfNeeded() {
        lock.lock()
        defer { lock.unlock() }
        guard unsynced, activeFD >= 0 else { return }
        fdatasync(activeFD)
        unsynced = false
    }

    private func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        var limit = bytes.count
        if let allowed = injectedFullDiskAfterBytes {
            injectedFullDiskAfterBytes = nil
            limit = min(allowed, bytes.count)
        }
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                if offset >= limit { throw JournalError.io("write", ENOSPC) }
                let written = write(fd, buffer.baseAddress!.advanced(by: offset), limit - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw JournalError.io("write", errno)
                }
                offset += written
            }
        }
    }

    private func writeCheckpoint(_ sequence: UInt64) {
        // Not fsynced: a checkpoint that is behind only means replaying records that are stored already,
        // which the message keys make harmless.
        let path = configuration.directory + "/checkpoint"
        let temporary = path + ".tmp"
        do {
            try Data("\(sequence)\n".utf8).write(to: URL(fileURLWithPath: temporary))
            if rename(temporary, path) != 0 { throw JournalError.io("rename checkpoint", errno) }
        } catch {
            logger.warning("could not write journal checkpoint", metadata: ["error": "\(error)"])
        }
    }

    static func readCheckpoint(_ directory: String) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: directory + "/checkpoint"),
              let text = String(data: data, encoding: .utf8) else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func path(_ directory: String, _ first: UInt64) -> String {
        let digits = String(first)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    static func listSegments(in directory: String) throws -> [UInt64] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".seg") }
            .compactMap { UInt64($0.dropLast(4)) }
            .sorted()
    }

    /// Scans a segment and returns the sequence of its last intact record.
    static func lastValidSequence(in path: String) throws -> UInt64? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var last: UInt64?
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                guard case .record(let record, let length) = JournalCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[offset...])) else { break }
                last = record.sequence
                offset += length
            }
        }
        return last
    }
}

public enum JournalError: Error, CustomStringConvertible {
    case io(String, Int32)

    public var description: String {
        switch self {
        case .io(let operation, let code): "journal \(operation): \(String(cString: strerror(code)))"
        }
    }
}

/// Calls `body` every `interval` on a thread of its own (group commit of non-urgent appends).
private final class Flusher: @unchecked Sendable {
    private let interval: Duration
    private let running = Mutex(true)
    private var thread: Thread?

    init(interval: Duration) { self.interval = interval }

    func start(_ body: @escaping @Sendable () -> Void) {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let thread = Thread { [self] in
            while running.withLock({ $0 }) {
                Thread.sleep(forTimeInterval: seconds)
                body()
            }
        }
        thread.name = "journal-flusher"
        thread.start()
        self.thread = thread
    }

    func stop() { running.withLock { $0 = false } }
}
