/// Timestamps come from devices: arithmetic on them saturates instead of trapping.
extension Int64 {
    public func saturatingAdd(_ other: Int64) -> Int64 {
        let (r, overflow) = addingReportingOverflow(other)
        if !overflow { return r }
        return other > 0 ? .max : .min
    }

    public func saturatingSubtract(_ other: Int64) -> Int64 {
        let (r, overflow) = subtractingReportingOverflow(other)
        if !overflow { return r }
        return other < 0 ? .max : .min
    }

    /// Seconds to microseconds, clamped to [0, Int64.max] (negative tunings mean 0).
    static func micros(seconds: Int) -> Int64 {
        let s = Int64(clamping: Swift.max(0, seconds))
        let (r, overflow) = s.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? .max : r
    }

    /// Converts without trapping on NaN, infinities or out-of-range values.
    init(clampingDouble value: Double) {
        if value.isNaN { self = 0 }
        else if value >= 9_223_372_036_854_775_807.0 { self = .max }
        else if value <= -9_223_372_036_854_775_808.0 { self = .min }
        else { self = Int64(value) }
    }
}
