import Foundation

/// A point on the WGS 84 ellipsoid, as an open location (where premises or an outdoor sensor are).
public struct OpenPoint: Sendable, Equatable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    public var isValid: Bool { (-90.0...90.0).contains(latitude) && (-180.0...180.0).contains(longitude) }
}

/// A geo-query on entities' open locations (NGSI-LD geoQ with a Point or a Polygon), in a form both the SQL and the
/// in-memory repositories evaluate the same way.
public enum OpenGeoFilter: Sendable, Equatable {
    /// Within `maxMeters` (and at least `minMeters`) of a point, along the great circle.
    case near(OpenPoint, maxMeters: Double?, minMeters: Double?)
    /// Inside a polygon's outer ring (its edge included).
    case inside([OpenPoint])
    /// Outside a polygon's outer ring.
    case outside([OpenPoint])
    /// At this very point.
    case at(OpenPoint)

    public static let earthRadiusMeters = 6_371_008.8

    public func matches(_ point: OpenPoint) -> Bool {
        switch self {
        case .near(let center, let maxMeters, let minMeters):
            let distance = Self.haversineMeters(center, point)
            return (maxMeters.map { distance <= $0 } ?? true) && (minMeters.map { distance >= $0 } ?? true)
        case .inside(let ring): return Self.contains(ring, point)
        case .outside(let ring): return !Self.contains(ring, point)
        case .at(let other): return other == point
        }
    }

    public static func haversineMeters(_ a: OpenPoint, _ b: OpenPoint) -> Double {
        let rad = Double.pi / 180
        let dLat = (b.latitude - a.latitude) * rad
        let dLon = (b.longitude - a.longitude) * rad
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.latitude * rad) * cos(b.latitude * rad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * earthRadiusMeters * asin(min(1, h.squareRoot()))
    }

    /// Point in polygon (planar in degrees, as PostgreSQL's `polygon @> point` decides), the edge counting as inside.
    public static func contains(_ ring: [OpenPoint], _ point: OpenPoint) -> Bool {
        guard ring.count >= 3 else { return false }
        var inside = false
        var j = ring.count - 1
        for i in 0..<ring.count {
            let a = ring[i], b = ring[j]
            if onSegment(a, b, point) { return true }
            if (a.latitude > point.latitude) != (b.latitude > point.latitude) {
                let x = (b.longitude - a.longitude) * (point.latitude - a.latitude) / (b.latitude - a.latitude) + a.longitude
                if point.longitude < x { inside.toggle() }
            }
            j = i
        }
        return inside
    }

    private static func onSegment(_ a: OpenPoint, _ b: OpenPoint, _ p: OpenPoint) -> Bool {
        let cross = (b.longitude - a.longitude) * (p.latitude - a.latitude) - (b.latitude - a.latitude) * (p.longitude - a.longitude)
        guard abs(cross) < 1e-12 else { return false }
        return p.longitude >= min(a.longitude, b.longitude) && p.longitude <= max(a.longitude, b.longitude)
            && p.latitude >= min(a.latitude, b.latitude) && p.latitude <= max(a.latitude, b.latitude)
    }
}
