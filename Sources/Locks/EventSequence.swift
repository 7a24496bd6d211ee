/// A lock numbers its events 1, 2, 3...; a number that never arrives is an event the lock had and the gateway
/// never saw (lost on the way, or the lock's memory overflowed offline). The ledger decides, for each number that
/// arrives, what that says. Pure: the caller loads the lock's state and applies the actions. Numbers come from a
/// device: nothing here may trap on any Int64 (no `+ 1` past the top), and an absurd jump is no "gap".
public enum EventSequence {
    /// The largest number believed: real locks count in 32 bits; anything past this is ignored.
    public static let ceiling: Int64 = 1 << 40
    /// A jump forward longer than this is a renumbered lock (replaced, reset, a firmware change), not lost events.
    public static let maxGap: Int64 = 100_000

    /// A run of numbers that has not arrived (both ends included).
    public struct Gap: Sendable, Equatable {
        public var id: Int64?
        public var first: Int64
        public var last: Int64

        public init(id: Int64? = nil, first: Int64, last: Int64) {
            self.id = id
            self.first = first
            self.last = last
        }

        public var count: Int64 { last - first + 1 }
    }

    public enum Outcome: Sendable, Equatable {
        /// Outside `0...ceiling`: not a number a lock sends; nothing changes.
        case ignored
        /// The first number seen from this lock: nothing before it is known to be missing.
        case first
        /// The next number: nothing missing.
        case inOrder
        /// Numbers between the last one seen and this one never arrived.
        case gap(Gap)
        /// A late event inside a known gap: the gap narrows (it is replaced by what is still missing).
        case filled(gap: Gap, remaining: [Gap])
        /// A number already seen or passed, not in a gap: a repeat; nothing changes.
        case repeated
        /// The lock numbers anew: 0 or 1 after a higher number, or a jump forward longer than `maxGap`.
        case restarted
    }

    /// Where `sequence` stands after `last` (nil: none seen yet), given the lock's open gaps.
    public static func place(_ sequence: Int64, after last: Int64?, gaps: [Gap]) -> Outcome {
        guard (0...ceiling).contains(sequence) else { return .ignored }
        guard let last, (0...ceiling).contains(last) else { return .first }
        if sequence > last {
            let distance = sequence - last  // both within 0...ceiling: no overflow
            if distance == 1 { return .inOrder }
            if distance - 1 > maxGap { return .restarted }
            return .gap(Gap(first: last + 1, last: sequence - 1))
        }
        if let gap = gaps.first(where: { $0.first <= sequence && sequence <= $0.last }) {
            var remaining: [Gap] = []
            if gap.first < sequence { remaining.append(Gap(first: gap.first, last: sequence - 1)) }
            if sequence < gap.last { remaining.append(Gap(first: sequence + 1, last: gap.last)) }
            return .filled(gap: gap, remaining: remaining)
        }
        if sequence <= 1 && last > 1 { return .restarted }
        return .repeated
    }

    /// The highest number seen after this outcome.
    public static func last(after outcome: Outcome, sequence: Int64, previous: Int64?) -> Int64? {
        switch outcome {
        case .first, .inOrder, .gap, .restarted: sequence
        case .filled, .repeated, .ignored: previous
        }
    }
}
