import Foundation
import Synchronization

/// The second line of defence against a message that kills the gateway while it is normalized. Every bound on
/// input is meant to make that impossible; if one is missed, a replay of the journal would kill the gateway again
/// on every start and nothing after that message would ever be stored (a crash loop).
///
/// Before a batch of journal records is normalized its range is noted on disk, and the note is cleared when the
/// batch is normalized. A start that finds a note left behind knows the process died inside that range: the range
/// becomes the *suspect*, and each further death inside it narrows the suspect to where it happened and counts.
/// Records of the suspect range are read one at a time; a single record that has killed the process
/// `maxAttempts` times is quarantined (dead-lettered with the reason, never normalized again: it is remembered,
/// so a replay from an older checkpoint quarantines it again instead of dying on it). Records before
/// the suspect (a checkpoint lags behind what is stored, so some are replayed) are read as usual and do not
/// disturb the count. A value-type state machine; `ReplayGuardFile` keeps it on disk.
public struct ReplayGuard: Sendable, Equatable {
    /// Journal sequences `first...last`.
    public struct Range: Sendable, Equatable {
        public var first: UInt64
        public var last: UInt64

        public init(_ first: UInt64, _ last: UInt64) {
            self.first = first
            self.last = last
        }

        func overlaps(_ other: Range) -> Bool { first <= other.last && other.first <= last }
    }

    public struct State: Sendable, Equatable {
        /// The batch being normalized; still set after a crash.
        public var current: Range?
        /// Where the process died, narrowed with each death inside it.
        public var suspect: Range?
        /// How many deaths `suspect` stands for.
        public var deaths: Int
        /// Records already quarantined, ascending (the newest `maxQuarantined`): a replay from a checkpoint
        /// before them must quarantine them again, not normalize them.
        public var quarantined: [UInt64]

        public init(current: Range? = nil, suspect: Range? = nil, deaths: Int = 0, quarantined: [UInt64] = []) {
            self.current = current
            self.suspect = suspect
            self.deaths = deaths
            self.quarantined = quarantined
        }
    }

    /// How many quarantined sequences are remembered; far more than can wait between two checkpoints.
    public static let maxQuarantined = 64

    public enum Decision: Sendable, Equatable {
        case normalize
        /// Normalizing this record killed the process this many times: do not try again.
        case quarantine(deaths: Int)
    }

    public private(set) var state: State
    public let maxAttempts: Int

    /// - Parameter state: as the last run left it; a `current` batch means that run died normalizing it.
    public init(state: State = State(), maxAttempts: Int = 3) {
        self.state = state
        self.maxAttempts = maxAttempts
        if let unfinished = state.current { died(in: unfinished) }
    }

    private mutating func died(in range: Range) {
        if let suspect = state.suspect, suspect.overlaps(range) {
            state.suspect = Range(max(suspect.first, range.first), min(suspect.last, range.last))
            state.deaths += 1
        } else {
            state.suspect = range
            state.deaths = 1
        }
        state.current = nil
    }

    /// How many records to read for the batch that starts at `next`: one at a time inside the suspect range and
    /// for a quarantined record, and never a batch that runs into either from before.
    public func limit(next: UInt64, normal: Int) -> Int {
        var limit = UInt64(normal)
        if let suspect = state.suspect, next <= suspect.last {
            limit = next >= suspect.first ? 1 : min(limit, suspect.first - next)
        }
        if let quarantined = state.quarantined.first(where: { $0 >= next }) {
            limit = quarantined == next ? 1 : min(limit, quarantined - next)
        }
        return Int(max(limit, 1))
    }

    /// Before normalizing records `first...last`.
    public mutating func begin(first: UInt64, last: UInt64) -> Decision {
        if first == last, state.quarantined.contains(first) {
            return .quarantine(deaths: maxAttempts)
        }
        if first == last, let suspect = state.suspect, suspect == Range(first, first), state.deaths >= maxAttempts {
            let deaths = state.deaths
            state.suspect = nil
            state.deaths = 0
            state.current = nil
            state.quarantined = Array((state.quarantined + [first]).sorted().suffix(Self.maxQuarantined))
            return .quarantine(deaths: deaths)
        }
        state.current = Range(first, last)
        return .normalize
    }

    /// The batch that `begin` started was normalized. Passing the end of the suspect range clears it.
    public mutating func finished() {
        if let current = state.current, let suspect = state.suspect, current.last >= suspect.last {
            state.suspect = nil
            state.deaths = 0
        }
        state.current = nil
    }
}

/// Keeps a `ReplayGuard` in a small text file beside the journal. Written without fsync: it guards against the
/// process dying, not the machine (a lost note only costs the guard one more death).
public final class ReplayGuardFile: Sendable {
    private let guardState: Mutex<ReplayGuard>
    private let path: String

    public init(directory: String, maxAttempts: Int = 3) {
        path = (directory as NSString).appendingPathComponent("replay-guard")
        let loaded = ReplayGuard(state: Self.read(path), maxAttempts: maxAttempts)
        guardState = Mutex(loaded)
        Self.write(loaded.state, to: path)
    }

    public var state: ReplayGuard.State { guardState.withLock { $0.state } }

    public func limit(next: UInt64, normal: Int) -> Int { guardState.withLock { $0.limit(next: next, normal: normal) } }

    public func begin(first: UInt64, last: UInt64) -> ReplayGuard.Decision {
        guardState.withLock { replayGuard in
            let decision = replayGuard.begin(first: first, last: last)
            Self.write(replayGuard.state, to: path)
            return decision
        }
    }

    public func finished() {
        guardState.withLock { replayGuard in
            replayGuard.finished()
            Self.write(replayGuard.state, to: path)
        }
    }

    /// One line: `current-first current-last suspect-first suspect-last deaths quarantined...`, 0 0 for an
    /// absent range.
    private static func write(_ state: ReplayGuard.State, to path: String) {
        let text = "\(state.current?.first ?? 0) \(state.current?.last ?? 0) "
            + "\(state.suspect?.first ?? 0) \(state.suspect?.last ?? 0) \(state.deaths)"
            + state.quarantined.map { " \($0)" }.joined() + "\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = text.utf8CString.withUnsafeBufferPointer { Foundation.write(fd, $0.baseAddress, $0.count - 1) }
    }

    /// What the file says; a missing or unreadable file is a clean state (journal sequences start at 1).
    static func read(_ path: String) -> ReplayGuard.State {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return ReplayGuard.State() }
        let words = text.split(whereSeparator: \.isWhitespace)
        let numbers = words.compactMap { UInt64($0) }
        guard numbers.count == words.count, numbers.count >= 5, numbers[4] <= 1_000 else { return ReplayGuard.State() }
        func range(_ first: UInt64, _ last: UInt64) -> ReplayGuard.Range? {
            first > 0 && first <= last ? ReplayGuard.Range(first, last) : nil
        }
        return ReplayGuard.State(current: range(numbers[0], numbers[1]), suspect: range(numbers[2], numbers[3]),
                                 deaths: Int(numbers[4]),
                                 quarantined: Array(numbers.dropFirst(5).sorted().suffix(ReplayGuard.maxQuarantined)))
    }
}
