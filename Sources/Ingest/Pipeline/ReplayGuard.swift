import Foundation
import Synchronization

/// The second line of defence against a message that kills the gateway while it is normalized. Every bound on
/// input is meant to make that impossible; if one is missed, a replay of the journal would kill the gateway again
/// on every start and nothing after that message would ever be stored (a crash loop).
///
/// Before a batch of journal records is normalized its range is noted on disk, and noted as finished afterwards.
/// A start that finds the same batch begun `maxAttempts` times without finishing takes the records of that range
/// one at a time; a single record begun `maxAttempts` times is quarantined: dead-lettered with the reason, never
/// normalized again. A value-type state machine; `ReplayGuardFile` keeps it on disk.
public struct ReplayGuard: Sendable, Equatable {
    public struct Mark: Sendable, Equatable {
        /// The batch being normalized: its first and last journal sequence.
        public var first: UInt64
        public var last: UInt64
        /// How many times this batch was begun without finishing (0: finished).
        public var attempts: Int
        /// Records up to this sequence are taken one at a time (a batch that kept failing is being narrowed).
        public var singlyThrough: UInt64
    }

    public enum Decision: Sendable, Equatable {
        case normalize
        /// Normalizing this record stopped the gateway this many times: do not try again.
        case quarantine(attempts: Int)
    }

    public private(set) var mark: Mark?
    public let maxAttempts: Int

    public init(mark: Mark? = nil, maxAttempts: Int = 3) {
        self.mark = mark
        self.maxAttempts = maxAttempts
    }

    /// How many records to read for the batch that starts at `next`: one while narrowing down, else `normal`.
    public func limit(next: UInt64, normal: Int) -> Int {
        guard let mark else { return normal }
        if next <= mark.singlyThrough { return 1 }
        if mark.first == next, mark.attempts >= maxAttempts, mark.last > mark.first { return 1 }
        return normal
    }

    /// Before normalizing records `first...last`.
    public mutating func begin(first: UInt64, last: UInt64) -> Decision {
        let singly = mark?.singlyThrough ?? 0
        guard let previous = mark, previous.first == first, previous.attempts > 0 else {
            mark = Mark(first: first, last: last, attempts: 1, singlyThrough: singly)
            return .normalize
        }
        if first == last, previous.last == first, previous.attempts >= maxAttempts {
            mark = Mark(first: first, last: last, attempts: 0, singlyThrough: singly)
            return .quarantine(attempts: previous.attempts)
        }
        if first == last, previous.last > first {
            // Narrowing: the batch from here to `previous.last` goes one record at a time.
            mark = Mark(first: first, last: last, attempts: 1, singlyThrough: max(singly, previous.last))
        } else {
            mark = Mark(first: first, last: last, attempts: previous.attempts + 1, singlyThrough: singly)
        }
        return .normalize
    }

    /// The batch that `begin` started was normalized.
    public mutating func finished() {
        mark?.attempts = 0
    }
}

/// Keeps a `ReplayGuard` in a small text file beside the journal. Written without fsync: it guards against the
/// process dying, not the machine (a lost mark only costs the guard one more attempt).
public final class ReplayGuardFile: Sendable {
    private let state: Mutex<ReplayGuard>
    private let path: String

    public init(directory: String, maxAttempts: Int = 3) {
        path = (directory as NSString).appendingPathComponent("replay-guard")
        state = Mutex(ReplayGuard(mark: Self.read(path), maxAttempts: maxAttempts))
    }

    public var mark: ReplayGuard.Mark? { state.withLock { $0.mark } }

    public func limit(next: UInt64, normal: Int) -> Int { state.withLock { $0.limit(next: next, normal: normal) } }

    public func begin(first: UInt64, last: UInt64) -> ReplayGuard.Decision {
        state.withLock { guardState in
            let decision = guardState.begin(first: first, last: last)
            write(guardState.mark)
            return decision
        }
    }

    public func finished() {
        state.withLock { guardState in
            guardState.finished()
            write(guardState.mark)
        }
    }

    private func write(_ mark: ReplayGuard.Mark?) {
        guard let mark else { return }
        let text = "\(mark.first) \(mark.last) \(mark.attempts) \(mark.singlyThrough)\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = text.utf8CString.withUnsafeBufferPointer { Foundation.write(fd, $0.baseAddress, $0.count - 1) }
    }

    static func read(_ path: String) -> ReplayGuard.Mark? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count == 4, let first = UInt64(parts[0]), let last = UInt64(parts[1]),
              let attempts = Int(parts[2]), let singly = UInt64(parts[3]), first <= last, attempts >= 0 else { return nil }
        return ReplayGuard.Mark(first: first, last: last, attempts: attempts, singlyThrough: singly)
    }
}
