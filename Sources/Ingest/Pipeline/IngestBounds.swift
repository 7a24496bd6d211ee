/// What PostgreSQL can store and what the gateway accepts as a device's time, checked before anything is
/// converted or written: a value that traps a conversion (`Int64(1e13 * 1e6)`) would crash the gateway on every
/// replay of the journal, and one PostgreSQL refuses (a NUL in text, a year before 4713 BC) would fail its batch.
public struct IngestBounds: Sendable, Equatable {
    /// Observed times before this are refused (seconds since the Unix epoch; default 2000-01-01T00:00:00Z):
    /// a device clock that was never set reports 1970, and nothing of ours is older than the century.
    public var earliestObservedTime: Double = 946_684_800
    /// Observed times further ahead of arrival than this are refused: a clock gone wrong would otherwise pin
    /// the latest value of a quantity forever.
    public var maxFutureSkewSeconds: Double = 24 * 3600

    public init() {}

    /// The observed time in microseconds, when it lies inside the window around `receivedAtMicros`; otherwise
    /// why not. The window is well inside Int64 microseconds, so the conversion cannot trap.
    public func observedMicros(_ seconds: Double, receivedAtMicros: Int64) -> Result<Int64, TimeRefusal> {
        guard seconds.isFinite else { return .failure(TimeRefusal(reason: "time \(seconds) is not a finite number")) }
        let received = Double(receivedAtMicros) / 1_000_000
        guard seconds >= earliestObservedTime else {
            return .failure(TimeRefusal(reason: "time \(Self.describe(seconds)) is before \(Self.describe(earliestObservedTime)) (the earliest accepted)"))
        }
        guard seconds <= received + maxFutureSkewSeconds else {
            return .failure(TimeRefusal(reason: "time \(Self.describe(seconds)) is more than \(Int64(maxFutureSkewSeconds)) s after arrival"))
        }
        return .success(Int64((seconds * 1_000_000).rounded()))
    }

    /// Seconds as text for a reason: integral times without ".0", anything else as Swift prints it.
    static func describe(_ seconds: Double) -> String {
        if let whole = Int64(exactly: seconds) { return String(whole) }
        return "\(seconds)"
    }

    /// Why a text cannot be stored as PostgreSQL `text`, or nil. Swift strings are valid Unicode (invalid UTF-8
    /// was already replaced when decoded); NUL is the one character PostgreSQL refuses.
    public static func unstorable(_ text: String) -> String? {
        guard let offset = text.utf8.firstIndex(of: 0) else { return nil }
        return "contains a NUL character (U+0000) at byte \(text.utf8.distance(from: text.utf8.startIndex, to: offset)), which cannot be stored"
    }

    /// Text that can always be stored: NUL written as the escape `\u0000`. For reasons and topics, which quote
    /// what a device sent and must never make their own dead letter unwritable.
    public static func storable(_ text: String) -> String {
        guard text.utf8.contains(0) else { return text }
        return text.replacingOccurrences(of: "\u{0}", with: "\\u0000")
    }
}

/// Why an observed time was refused.
public struct TimeRefusal: Error, Sendable, Equatable {
    public var reason: String
}

import Foundation
