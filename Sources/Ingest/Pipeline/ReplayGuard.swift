import Foundation
import Postgres
import Synchronization
import Models

/// The second line of defence against a message that kills the gateway while it is normalized. Every bound on
/// input is meant to make that impossible; if one is missed, a replay of the journal would kill the gateway again
/// on every start and nothing after that message would ever be stored (a crash loop).
///
/// Before a batch of journal records is normalized its range is noted on disk, and the note is cleared when the
/// batch is normalized. A start that finds a note left behind knows the process died inside that range: the range
/// becomes the *suspect*, and each further death inside it narrows the suspect to where it happened and counts.
/// Records of the suspect range are read one at a time; a single record that has killed the process
/// `maxAttempts` times is quarantined (dead-lettered with the reason, never normalized again: it is remembered,
/// by its content, so a replay from an older checkpoint or the same message sent again is quarantined at once). Records before
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
        /// Content keys (topic and payload) of quarantined messages, oldest first (the newest `maxPoisonKeys`):
        /// a replay from an older checkpoint, and a device sending the same message again, are quarantined at once
        /// instead of killing the process again. Content, not journal sequences, which start again at 1 when a
        /// journal is wiped.
        public var poisonKeys: [[UInt8]]

        public init(current: Range? = nil, suspect: Range? = nil, deaths: Int = 0, poisonKeys: [[UInt8]] = []) {
            self.current = current
            self.suspect = suspect
            self.deaths = deaths
            self.poisonKeys = poisonKeys
        }
    }

    public static let maxPoisonKeys = 256

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

    /// How many records to read for the batch that starts at `next`: one at a time inside the suspect range,
    /// and never a batch that runs into it from before.
    public func limit(next: UInt64, normal: Int) -> Int {
        guard let suspect = state.suspect, next <= suspect.last else { return normal }
        if next >= suspect.first { return 1 }
        return Int(min(UInt64(normal), suspect.first - next))
    }

    /// Whether a message with this content key was quarantined before.
    public func isPoison(_ key: [UInt8]) -> Bool {
        !state.poisonKeys.isEmpty && state.poisonKeys.contains(key)
    }

    /// Before normalizing records `first...last`. On `.quarantine`, tell `poisoned(_:)` the record's content key.
    public mutating func begin(first: UInt64, last: UInt64) -> Decision {
        if first == last, let suspect = state.suspect, suspect == Range(first, first), state.deaths >= maxAttempts {
            let deaths = state.deaths
            state.suspect = nil
            state.deaths = 0
            state.current = nil
            return .quarantine(deaths: deaths)
        }
        state.current = Range(first, last)
        return .normalize
    }

    /// Remembers the content of a quarantined message.
    public mutating func poisoned(_ key: [UInt8]) {
        guard !state.poisonKeys.contains(key) else { return }
        state.poisonKeys = Array((state.poisonKeys + [key]).suffix(Self.maxPoisonKeys))
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

    /// The guard's file in a journal directory.
    public static func path(in directory: String) -> String {
        (directory as NSString).appendingPathComponent("replay-guard")
    }

    public init(directory: String, maxAttempts: Int = 3) {
        path = Self.path(in: directory)
        let loaded = ReplayGuard(state: Self.read(path), maxAttempts: maxAttempts)
        guardState = Mutex(loaded)
        write(loaded.state)
    }

    public var state: ReplayGuard.State { guardState.withLock { $0.state } }

    public func limit(next: UInt64, normal: Int) -> Int { guardState.withLock { $0.limit(next: next, normal: normal) } }

    public func begin(first: UInt64, last: UInt64) -> ReplayGuard.Decision {
        guardState.withLock { replayGuard in
            let decision = replayGuard.begin(first: first, last: last)
            write(replayGuard.state)
            return decision
        }
    }

    public func finished() {
        guardState.withLock { replayGuard in
            replayGuard.finished()
            write(replayGuard.state)
        }
    }

    public func isPoison(_ key: [UInt8]) -> Bool { guardState.withLock { $0.isPoison(key) } }

    /// Whether any content is known as poison (so that keys are computed only then).
    public var hasPoison: Bool { guardState.withLock { !$0.state.poisonKeys.isEmpty } }

    public func poisoned(_ key: [UInt8]) {
        guardState.withLock { replayGuard in
            replayGuard.poisoned(key)
            write(replayGuard.state)
        }
    }

    /// Whether the last write reached the file: without it the guard cannot work, which `/readyz` reports.
    public var isWritable: Bool { writable.load(ordering: .relaxed) }
    private let writable = Atomic<Bool>(true)

    /// First line: `current-first current-last suspect-first suspect-last deaths`, 0 0 for an absent range; then
    /// one poison content key per line (hex).
    private func write(_ state: ReplayGuard.State) {
        let text = "\(state.current?.first ?? 0) \(state.current?.last ?? 0) "
            + "\(state.suspect?.first ?? 0) \(state.suspect?.last ?? 0) \(state.deaths)\n"
            + state.poisonKeys.map { Hex.encode($0) + "\n" }.joined()
        writable.store(GuardFiles.write(text, to: path), ordering: .relaxed)
    }

    /// What the file says; a missing or unreadable file is a clean state (journal sequences start at 1), and
    /// an unreadable key line is skipped.
    static func read(_ path: String) -> ReplayGuard.State {
        guard let data = FileManager.default.contents(atPath: path) else { return ReplayGuard.State() }
        let lines = data.split(separator: UInt8(ascii: "\n"))
        guard let first = lines.first else { return ReplayGuard.State() }
        let words = first.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        let numbers = words.compactMap { UInt64($0) }
        var state = ReplayGuard.State()
        if numbers.count == 5, words.count == 5, numbers[4] <= 1_000 {
            func range(_ first: UInt64, _ last: UInt64) -> ReplayGuard.Range? {
                first > 0 && first <= last ? ReplayGuard.Range(first, last) : nil
            }
            state = ReplayGuard.State(current: range(numbers[0], numbers[1]), suspect: range(numbers[2], numbers[3]),
                                      deaths: Int(numbers[4]))
        }
        state.poisonKeys = Array(lines.dropFirst().compactMap { GuardFiles.key(Array($0)) }.suffix(ReplayGuard.maxPoisonKeys))
        return state
    }
}

/// The small files of the crash guards (the replay guard's, the fast path's): written through a temporary file
/// and a rename, so a full disk keeps the old content rather than an empty file; keys as lines of hex.
enum GuardFiles {
    /// Whether the text reached the file.
    static func write(_ text: String, to path: String) -> Bool {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        let length = text.utf8.count
        let written = text.utf8CString.withUnsafeBufferPointer { Foundation.write(fd, $0.baseAddress, length) }
        return close(fd) == 0 && written == length && rename(temporary, path) == 0
    }

    /// A content key (`MessageKey.length` bytes) from a line of hex digits, a stray CR ignored; nil for anything
    /// else (a torn write, non-ASCII), which is skipped, never trusted.
    static func key(_ line: [UInt8]) -> [UInt8]? {
        let digits = line.filter { $0 != UInt8(ascii: "\r") }
        guard digits.count == 2 * MessageKey.length, digits.allSatisfy({ $0 < 0x80 }) else { return nil }
        return Hex.decode(String(decoding: digits, as: UTF8.self))
    }

    static func keys(in path: String) -> [[UInt8]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { key(Array($0)) }
    }
}
