import Foundation
import Models
import Telemetry

/// `geoQ` (GS CIM 009 §4.10): `georel` (`near;maxDistance==m`, `near;minDistance==m`, `within`, `intersects`,
/// `disjoint`), `geometry` (`Point` or `Polygon`) and `coordinates` (GeoJSON order: longitude, latitude), on the
/// entities' `location`. Turned into an `OpenGeoFilter` the repositories evaluate.
public enum GeoQuery {
    public static let maxVertices = 200

    public static func filter(georel: String?, geometry: String?, coordinates: String?, geoproperty: String?) throws(NGSILDFailure) -> OpenGeoFilter? {
        guard georel != nil || geometry != nil || coordinates != nil else { return nil }
        guard let georel, let geometry, let coordinates else {
            throw .badRequest("a geo-query needs georel, geometry and coordinates together")
        }
        if let geoproperty, geoproperty != "location", geoproperty != OpenVocabulary.location {
            throw NGSILDFailure(.operationNotSupported, "geoproperty: only location is a GeoProperty here")
        }
        guard coordinates.utf8.count <= 16_384 else { throw .badRequest("coordinates are longer than 16384 characters") }
        // A space a form encoder wrote as `+` (`[13.3986,+52.5547]`): only where a value starts, never inside `1e+5`.
        let spaced = coordinates.replacingOccurrences(of: ",+", with: ",").replacingOccurrences(of: "[+", with: "[")
        let parsed: JSON
        do { parsed = try JSON.parse(Array(spaced.utf8)) } catch {
            throw .badRequest("coordinates are not a JSON array: \(error.description)")
        }
        let relation = georel.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        switch geometry {
        case "Point":
            let point = try position(parsed, "coordinates")
            switch relation[0] {
            case "near":
                guard relation.count >= 2 else { throw .badRequest("georel near needs maxDistance==<m> or minDistance==<m>") }
                var maxMeters: Double?
                var minMeters: Double?
                for modifier in relation.dropFirst() {
                    let parts = modifier.split(separator: "=", omittingEmptySubsequences: true)
                    guard modifier.contains("=="), parts.count == 2, let meters = Double(parts[1]), meters.isFinite, meters >= 0 else {
                        throw .badRequest("georel: \(modifier) is not maxDistance==<meters> or minDistance==<meters>")
                    }
                    switch parts[0] {
                    case "maxDistance": maxMeters = meters
                    case "minDistance": minMeters = meters
                    default: throw .badRequest("georel: near takes maxDistance or minDistance, not \(parts[0])")
                    }
                }
                return .near(point, maxMeters: maxMeters, minMeters: minMeters)
            case "intersects", "equals": return .at(point)
            case "within", "contains", "overlaps", "disjoint":
                throw NGSILDFailure(.operationNotSupported, "georel \(relation[0]) with a Point: use near, intersects or equals")
            default: throw .badRequest("georel must be near, within, intersects, equals or disjoint, not \(relation[0])")
            }
        case "Polygon":
            guard let rings = parsed.arrayValue, let outer = rings.first?.arrayValue else {
                throw .badRequest("coordinates of a Polygon are [[[lon, lat], ...]]")
            }
            guard rings.count == 1 else { throw NGSILDFailure(.operationNotSupported, "polygons with holes are not supported") }
            guard (4...maxVertices).contains(outer.count) else {
                throw .badRequest("a Polygon's ring has 4 to \(maxVertices) positions (the first repeated last)")
            }
            var ring: [OpenPoint] = []
            for (index, item) in outer.enumerated() { ring.append(try position(item, "coordinates[0][\(index)]")) }
            guard ring.first == ring.last else { throw .badRequest("a Polygon's ring must end where it starts") }
            ring.removeLast()
            switch relation[0] {
            case "within", "intersects": return .inside(ring)
            case "disjoint": return .outside(ring)
            case "near", "equals", "contains", "overlaps":
                throw NGSILDFailure(.operationNotSupported, "georel \(relation[0]) with a Polygon: use within, intersects or disjoint")
            default: throw .badRequest("georel must be near, within, intersects, equals or disjoint, not \(relation[0])")
            }
        default:
            throw NGSILDFailure(.operationNotSupported, "geometry \(geometry): only Point and Polygon are supported")
        }
    }

    /// A GeoJSON position `[lon, lat]` (an altitude after them is ignored).
    public static func position(_ value: JSON, _ name: String) throws(NGSILDFailure) -> OpenPoint {
        guard let items = value.arrayValue, (2...3).contains(items.count), let lon = items[0].numberValue, let lat = items[1].numberValue else {
            throw .badRequest("\(name) must be a position [longitude, latitude]")
        }
        let point = OpenPoint(latitude: lat, longitude: lon)
        guard point.isValid else { throw .badRequest("\(name): latitude must be within ±90 and longitude within ±180") }
        return point
    }
}
