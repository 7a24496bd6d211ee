import Foundation

/// A zone validated and projected once, with its tuning resolved to safe values. Build it when zones are loaded or
/// changed; evaluating a fix against it costs one projection and one pass over the edges.
public struct PreparedZone: Sendable {
    public let zone: Zone
    /// Problems found by `ZoneValidation`; a zone with problems is ignored by evaluation.
    public let problems: [String]
    let shape: PreparedShape?

    public let exitBufferMeters: Double
    public let maxAccuracyMeters: Double
    public let confirmFixes: Int
    let confirmMicros: Int64
    let windowStartMaxFixAgeMicros: Int64
    let maxSegmentMicros: Int64

    public var id: Int64 { zone.id }
    public var isUsable: Bool { shape != nil }

    public init(_ zone: Zone) {
        self.zone = zone
        problems = ZoneValidation.problems(zone.shape)
        shape = problems.isEmpty ? PreparedShape(trusted: zone.shape) : nil

        let defaults = ZoneTuning()
        let tuning = zone.tuning
        let defaultBuffer = max(0.1 * (shape?.radius ?? 0), 20)
        if let b = tuning.exitBufferMeters, b.isFinite, b >= 0 {
            exitBufferMeters = b
        } else {
            exitBufferMeters = defaultBuffer
        }
        maxAccuracyMeters = tuning.maxAccuracyMeters.isFinite && tuning.maxAccuracyMeters > 0
            ? tuning.maxAccuracyMeters : defaults.maxAccuracyMeters
        confirmFixes = max(1, tuning.confirmFixes)
        confirmMicros = .micros(seconds: tuning.confirmSeconds)
        windowStartMaxFixAgeMicros = .micros(seconds: tuning.windowStartMaxFixAgeSeconds)
        maxSegmentMicros = .micros(seconds: tuning.maxSegmentSeconds)
    }

    /// Distance to the edge, negative inside; nil for an unusable zone or invalid point.
    public func signedDistanceMeters(_ point: GeoPoint) -> Double? {
        guard let d = shape?.signedDistance(point), d.isFinite else { return nil }
        return d
    }

    /// Whether a fix's accuracy is good enough to count toward an exit.
    func hasUsableAccuracy(_ fix: Fix) -> Bool {
        fix.isValid && fix.accuracyOrZero <= maxAccuracyMeters
    }

    /// The hysteresis rule. A fix above the accuracy limit is inside only if its whole accuracy circle is inside,
    /// so a noisy fix cannot reset an exit in progress (or record a return) by luck.
    public func classify(_ fix: Fix) -> (FixClass, distanceMeters: Double?) {
        guard fix.isValid, let d = signedDistanceMeters(fix.point) else { return (.uncertain, nil) }
        let accuracy = fix.accuracyOrZero
        if accuracy <= maxAccuracyMeters {
            if d <= 0 { return (.inside, d) }
            if d >= exitBufferMeters + accuracy { return (.outside, d) }
            return (.uncertain, d)
        }
        return (d <= -accuracy ? .inside : .uncertain, d)
    }
}

/// When a zone is in force (its schedule). The gateway implements it with weekly local-time windows.
public protocol ZoneCalendar: Sendable {
    func isActive(_ zoneId: Int64, atMicros: Int64) -> Bool
    /// The latest start of an active period at or before `atMicros` (nil when the zone has no schedule: always active).
    func activeSince(_ zoneId: Int64, atMicros: Int64) -> Int64?
}

/// Every zone is always in force.
public struct AlwaysActive: ZoneCalendar {
    public init() {}
    public func isActive(_ zoneId: Int64, atMicros: Int64) -> Bool { true }
    public func activeSince(_ zoneId: Int64, atMicros: Int64) -> Int64? { nil }
}
