import Foundation

/// A position on the WGS84 ellipsoid, in degrees (evaluated on the mean sphere).
public struct GeoPoint: Sendable, Equatable, Hashable, Codable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// Finite and within [-90, 90] x [-180, 180]; anything else is ignored by evaluation.
    public var isValid: Bool {
        latitude.isFinite && longitude.isFinite
            && (-90...90).contains(latitude) && (-180...180).contains(longitude)
    }
}

public enum ZoneShape: Sendable, Equatable, Codable {
    case circle(center: GeoPoint, radiusMeters: Double)
    /// Vertices in order (either winding); a closing vertex equal to the first is optional.
    case polygon([GeoPoint])
}

/// Per-zone knobs. Out-of-range values are reported by `ZoneValidation` and replaced by safe values at evaluation.
public struct ZoneTuning: Sendable, Equatable, Codable {
    /// Distance beyond the edge needed before a fix can count as outside.
    /// nil: max(10 % of the radius, 20 m); for polygons the radius is the largest centroid-to-vertex distance.
    public var exitBufferMeters: Double?
    /// Fixes less accurate than this never count toward an exit.
    public var maxAccuracyMeters: Double
    /// This many consecutive outside observations confirm an exit ...
    public var confirmFixes: Int
    /// ... or being outside this long (dwell), whichever comes first.
    public var confirmSeconds: Int
    /// A schedule window that starts while the last fix is outside raises the exit at its start,
    /// but only if that fix is at most this old at the start (older positions say little about now).
    public var windowStartMaxFixAgeSeconds: Int
    /// Two fixes further apart than this are not joined by a straight segment (the walk between is unknown).
    public var maxSegmentSeconds: Int

    public init(
        exitBufferMeters: Double? = nil,
        maxAccuracyMeters: Double = 100,
        confirmFixes: Int = 2,
        confirmSeconds: Int = 60,
        windowStartMaxFixAgeSeconds: Int = 900,
        maxSegmentSeconds: Int = 900
    ) {
        self.exitBufferMeters = exitBufferMeters
        self.maxAccuracyMeters = maxAccuracyMeters
        self.confirmFixes = confirmFixes
        self.confirmSeconds = confirmSeconds
        self.windowStartMaxFixAgeSeconds = windowStartMaxFixAgeSeconds
        self.maxSegmentSeconds = maxSegmentSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case exitBufferMeters, maxAccuracyMeters, confirmFixes, confirmSeconds
        case windowStartMaxFixAgeSeconds, maxSegmentSeconds
    }

    /// Missing keys take their defaults, so stored tunings survive new knobs being added.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ZoneTuning()
        exitBufferMeters = try c.decodeIfPresent(Double.self, forKey: .exitBufferMeters)
        maxAccuracyMeters = try c.decodeIfPresent(Double.self, forKey: .maxAccuracyMeters) ?? defaults.maxAccuracyMeters
        confirmFixes = try c.decodeIfPresent(Int.self, forKey: .confirmFixes) ?? defaults.confirmFixes
        confirmSeconds = try c.decodeIfPresent(Int.self, forKey: .confirmSeconds) ?? defaults.confirmSeconds
        windowStartMaxFixAgeSeconds = try c.decodeIfPresent(Int.self, forKey: .windowStartMaxFixAgeSeconds)
            ?? defaults.windowStartMaxFixAgeSeconds
        maxSegmentSeconds = try c.decodeIfPresent(Int.self, forKey: .maxSegmentSeconds) ?? defaults.maxSegmentSeconds
    }
}

public struct Zone: Sendable, Equatable, Codable {
    public var id: Int64
    public var name: String
    public var shape: ZoneShape
    public var tuning: ZoneTuning

    public init(id: Int64, name: String, shape: ZoneShape, tuning: ZoneTuning = ZoneTuning()) {
        self.id = id
        self.name = name
        self.shape = shape
        self.tuning = tuning
    }
}

/// One position report of a device.
public struct Fix: Sendable, Equatable, Codable {
    public var atMicros: Int64
    public var point: GeoPoint
    /// Radius of the accuracy circle; nil means the device did not say (taken as 0: the exit buffer still applies).
    public var accuracyMeters: Double?

    public init(atMicros: Int64, point: GeoPoint, accuracyMeters: Double? = nil) {
        self.atMicros = atMicros
        self.point = point
        self.accuracyMeters = accuracyMeters
    }

    /// A valid point and an accuracy that is absent or finite and non-negative; other fixes are ignored.
    public var isValid: Bool {
        guard point.isValid else { return false }
        guard let accuracyMeters else { return true }
        return accuracyMeters.isFinite && accuracyMeters >= 0
    }

    var accuracyOrZero: Double { accuracyMeters ?? 0 }
}

/// What a fix says about one zone.
public enum FixClass: String, Sendable, Equatable, Codable {
    /// The point is inside the zone (and, for a fix above the accuracy limit, its whole accuracy circle is).
    case inside
    /// The accuracy circle lies entirely beyond the edge plus the exit buffer.
    case outside
    /// Anything between: changes nothing, so drift on the edge cannot flap.
    case uncertain
}

public enum GeofenceAction: Sendable, Equatable, Codable {
    /// A confirmed exit. `atMicros` is when the rules confirmed it: the time of the N-th outside observation or
    /// outside-since + confirmSeconds, whichever is earlier, or the start of a schedule window.
    case exit(zoneId: Int64, fix: Fix, distanceMeters: Double, atMicros: Int64)
    /// Back inside after an exit; re-arms the zone.
    case returned(zoneId: Int64, fix: Fix, atMicros: Int64)
}
