import Logging
import Postgres
import ServiceLifecycle
import Storage
import Foundation
import Synchronization
import Models

/// The fast path for device events (alarms): a message on `devices/<id>/events`, once journaled, is also
/// normalized here and its events are written at once in a small transaction of their own, so an alarm does not
/// wait behind telemetry batches (after an outage, behind the whole backlog). The pipeline writes the same
/// message later with everything else; the events table's key (message key, event, source path) makes that
/// second write a no-op. If this path fails, nothing is lost: the pipeline still writes the events.
public final class EventFastPath: Service, Sendable {
    private let pool: PostgresPool
    private let normalizer: Normalizer
    private let directory: DeviceDirectory
    private let logger: Logger
    private let records: AsyncStream<JournalRecord>
    private let sink: AsyncStream<JournalRecord>.Continuation
    private let crashGuard: FastPathGuard?

    /// - Parameter guardDirectory: where the fast path notes the message it is normalizing (the journal's
    ///   directory); a message that killed the process there is left to the pipeline and its replay guard.
    public init(pool: PostgresPool, normalizer: Normalizer, directory: DeviceDirectory, logger: Logger,
                guardDirectory: String? = nil) {
        self.pool = pool
        self.normalizer = normalizer
        self.directory = directory
        self.logger = logger
        self.crashGuard = guardDirectory.map(FastPathGuard.init(directory:))
        // Bounded: under a flood the oldest wait for the pipeline instead.
        (records, sink) = AsyncStream<JournalRecord>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Called by the ingress right after the message is journaled (on the network thread: never blocks).
    public func submit(_ record: JournalRecord) {
        sink.yield(record)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            var iterator = records.makeAsyncIterator()
            while let first = await iterator.next() {
                let key = MessageKey.content(of: first)
                if let crashGuard, !crashGuard.begin(key) {
                    logger.warning("event fast path skips a message that killed the gateway; the pipeline handles it",
                                   metadata: ["topic": "\(first.topic)"])
                    continue
                }
                let events = normalizer.normalize(first, devices: directory.snapshot).events
                crashGuard?.finished()
                guard !events.isEmpty else { continue }
                do {
                    try await pool.withConnection { connection in
                        // One statement, one round trip. Nothing acknowledged rests on this commit (the session's
                        // copy is journaled, and the pipeline writes it durably when this one did not), so it need
                        // not wait for the WAL to reach the disk; the alarm engine's commit flushes it anyway.
                        try IngestStore.insertEvents(events, asynchronousCommit: true, on: connection)
                    }
                } catch {
                    logger.warning("event fast path failed; the pipeline writes the event with its batch",
                                   metadata: ["error": "\(error)", "topic": "\(first.topic)"])
                }
            }
        } onGracefulShutdown: {
            self.sink.finish()
        }
    }
}

/// The fast path's guard against a message that kills the process while it is normalized: the fast path sees a
/// message as it arrives, before its PUBACK, so the broker delivers it again after the restart (under a new
/// journal sequence) and it would kill the fast path on every start. The content key of the message being
/// normalized is noted in a file; a start that finds a note adds that key to the keys the fast path skips (the
/// pipeline normalizes those messages under its own `ReplayGuard`).
final class FastPathGuard: Sendable {
    private struct State {
        var skipped: [[UInt8]]
        /// When the pipeline's replay-guard file was last read: a quarantine the pipeline decides while this process
        /// runs (the poison reached the pipeline first) must reach the fast path before the device resends it.
        var replayGuardModified: Date?
    }
    private let inFlightPath: String
    /// The in-flight note, kept open and overwritten in place: one small `pwrite` per event instead of a file
    /// created and renamed twice per event (milliseconds at the tail while the disk is busy with telemetry).
    private let inFlight: Int32
    private let skippedPath: String
    private let replayGuardPath: String
    private let state: Mutex<State>
    static let maxSkipped = 256

    init(directory: String) {
        inFlightPath = (directory as NSString).appendingPathComponent("fast-path-in-flight")
        skippedPath = (directory as NSString).appendingPathComponent("fast-path-skipped")
        replayGuardPath = ReplayGuardFile.path(in: directory)
        var skipped = GuardFiles.keys(in: skippedPath)
        if let died = GuardFiles.keys(in: inFlightPath).first, !skipped.contains(died) {
            skipped = Array((skipped + [died]).suffix(Self.maxSkipped))
            Self.writeKeys(skipped, to: skippedPath)
        }
        inFlight = open(inFlightPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        var state = State(skipped: skipped)
        Self.mergePoison(from: replayGuardPath, into: &state)
        self.state = Mutex(state)
        if inFlight >= 0 { _ = ftruncate(inFlight, 0) }
        finished()
    }

    /// What the pipeline quarantined is skipped here too (re-read when its file changed).
    private static func mergePoison(from path: String, into state: inout State) {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        guard modified != state.replayGuardModified || state.replayGuardModified == nil else { return }
        state.replayGuardModified = modified
        for key in ReplayGuardFile.read(path).poisonKeys where !state.skipped.contains(key) {
            state.skipped.append(key)
        }
    }

    /// Notes `key` as being normalized; false when it is one to skip.
    func begin(_ key: [UInt8]) -> Bool {
        let skip = state.withLock { state -> Bool in
            Self.mergePoison(from: replayGuardPath, into: &state)
            return state.skipped.contains(key)
        }
        guard !skip else { return false }
        note(Hex.encode(key))
        return true
    }

    func finished() {
        note(String(repeating: "-", count: 2 * MessageKey.length))
    }

    deinit {
        if inFlight >= 0 { close(inFlight) }
    }

    /// One line of a fixed length at the start of the note: a key in hex, or dashes for none (which no reader
    /// takes for a key). A process that dies leaves whichever line was written last.
    private func note(_ line: String) {
        guard inFlight >= 0 else { return }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { pwrite(inFlight, $0.baseAddress, $0.count, 0) }
    }

    var skipped: [[UInt8]] { state.withLock { $0.skipped } }

    private static func writeKeys(_ keys: [[UInt8]], to path: String) {
        _ = GuardFiles.write(keys.map { Hex.encode($0) + "\n" }.joined(), to: path)
    }
}
