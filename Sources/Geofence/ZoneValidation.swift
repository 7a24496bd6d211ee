import Foundation

/// Checks a zone before it is stored. Evaluation ignores zones that have problems, so it never sees bad geometry.
public enum ZoneValidation {
    public static let minRadiusMeters = 5.0
    public static let maxRadiusMeters = 50_000.0
    public static let minPolygonVertices = 3
    public static let maxPolygonVertices = 1000
    /// Polygons must fit within this distance of their vertex mean (keeps the local projection exact).
    public static let maxPolygonExtentMeters = 50_000.0
    /// Below this a polygon has no usable area.
    public static let minPolygonAreaSquareMeters = 1.0

    /// Human-readable problems; empty when the zone can be stored.
    public static func problems(_ zone: Zone) -> [String] {
        problems(zone.shape) + problems(zone.tuning)
    }

    public static func problems(_ tuning: ZoneTuning) -> [String] {
        var out: [String] = []
        if let b = tuning.exitBufferMeters, !(b.isFinite && b >= 0 && b <= maxRadiusMeters) {
            out.append("exit buffer must be between 0 and \(Int(maxRadiusMeters)) m")
        }
        if !(tuning.maxAccuracyMeters.isFinite && tuning.maxAccuracyMeters > 0) {
            out.append("maximum accuracy must be a positive number of meters")
        }
        if tuning.confirmFixes < 1 { out.append("confirmation needs at least 1 fix") }
        if tuning.confirmSeconds < 0 { out.append("confirmation seconds must not be negative") }
        if tuning.windowStartMaxFixAgeSeconds < 0 { out.append("window start fix age must not be negative") }
        if tuning.maxSegmentSeconds < 0 { out.append("maximum segment seconds must not be negative") }
        return out
    }

    public static func problems(_ shape: ZoneShape) -> [String] {
        switch shape {
        case let .circle(center, radius):
            return circleProblems(center: center, radius: radius)
        case let .polygon(points):
            return polygonProblems(points)
        }
    }

    static func pointProblem(_ p: GeoPoint, _ label: String) -> String? {
        guard p.latitude.isFinite, p.longitude.isFinite else { return "\(label) is not a finite coordinate" }
        guard (-90...90).contains(p.latitude) else { return "\(label) latitude must be within -90...90" }
        guard (-180...180).contains(p.longitude) else { return "\(label) longitude must be within -180...180" }
        return nil
    }

    static func circleProblems(center: GeoPoint, radius: Double) -> [String] {
        var out: [String] = []
        if let p = pointProblem(center, "centre") { out.append(p) }
        guard radius.isFinite, radius >= minRadiusMeters, radius <= maxRadiusMeters else {
            out.append("radius must be between \(Int(minRadiusMeters)) m and \(Int(maxRadiusMeters)) m")
            return out
        }
        guard out.isEmpty else { return out }
        let angularRadiusDegrees = radius / earthRadiusMeters * 180 / .pi
        if abs(center.latitude) + angularRadiusDegrees >= 90 {
            out.append("circle reaches a pole")
            return out
        }
        // Half-width in longitude of the circle at its centre's latitude.
        let sinHalfWidth = sin(radius / earthRadiusMeters) / cos(center.latitude * .pi / 180)
        let halfWidth = asin(min(1, sinHalfWidth)) * 180 / .pi
        if center.longitude + halfWidth > 180 || center.longitude - halfWidth < -180 {
            out.append("circle crosses the antimeridian")
        }
        return out
    }

    static func polygonProblems(_ input: [GeoPoint]) -> [String] {
        var points = input
        if points.count > 1, points.first == points.last { points.removeLast() }
        if points.count < minPolygonVertices {
            return ["polygon needs at least \(minPolygonVertices) distinct vertices"]
        }
        if points.count > maxPolygonVertices {
            return ["polygon has more than \(maxPolygonVertices) vertices"]
        }
        let pointProblems = points.enumerated().compactMap { pointProblem($1, "vertex \($0 + 1)") }
        if !pointProblems.isEmpty { return pointProblems }
        for i in points.indices where abs(points[(i + 1) % points.count].longitude - points[i].longitude) > 180 {
            return ["polygon crosses the antimeridian"]
        }
        guard let (_, v) = PreparedShape.project(points) else { return ["polygon cannot be projected"] }
        if v.contains(where: { $0.length > maxPolygonExtentMeters }) {
            return ["polygon extends more than \(Int(maxPolygonExtentMeters)) m from its centre"]
        }
        var out: [String] = []
        let n = v.count
        for i in 0..<n where (v[(i + 1) % n] - v[i]).length < 0.01 {
            out.append("vertex \(i + 1) repeats the next vertex")
            break
        }
        if let (i, j) = firstSelfIntersection(v) {
            out.append("polygon is not simple: edges \(i + 1) and \(j + 1) intersect")
        }
        if abs(PreparedShape.signedArea(v)) < minPolygonAreaSquareMeters {
            out.append("polygon has no area")
        }
        return out
    }

    /// O(n^2) is fine: at most 1000 vertices, and validation runs when a zone is stored or prepared.
    static func firstSelfIntersection(_ v: [Planar]) -> (Int, Int)? {
        let n = v.count
        for i in 0..<n {
            let a = v[i], b = v[(i + 1) % n]
            for j in (i + 1)..<n {
                let c = v[j], d = v[(j + 1) % n]
                let adjacent = j == i + 1 || (i == 0 && j == n - 1)
                if adjacent {
                    // Sharing a vertex is expected; folding back along the same line is not.
                    let shared = j == i + 1 ? b : a
                    let other1 = j == i + 1 ? a : b
                    let other2 = j == i + 1 ? d : c
                    let e1 = other1 - shared, e2 = other2 - shared
                    if abs(e1.cross(e2)) <= 1e-9 * max(1, e1.length * e2.length), e1.dot(e2) > 0 { return (i, j) }
                } else if segmentsIntersect(a, b, c, d) {
                    return (i, j)
                }
            }
        }
        return nil
    }

    static func segmentsIntersect(_ p1: Planar, _ p2: Planar, _ p3: Planar, _ p4: Planar) -> Bool {
        func orient(_ a: Planar, _ b: Planar, _ c: Planar) -> Double { (b - a).cross(c - a) }
        func onSegment(_ a: Planar, _ b: Planar, _ c: Planar) -> Bool {
            min(a.x, b.x) <= c.x && c.x <= max(a.x, b.x) && min(a.y, b.y) <= c.y && c.y <= max(a.y, b.y)
        }
        let d1 = orient(p3, p4, p1), d2 = orient(p3, p4, p2)
        let d3 = orient(p1, p2, p3), d4 = orient(p1, p2, p4)
        if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) { return true }
        if d1 == 0 && onSegment(p3, p4, p1) { return true }
        if d2 == 0 && onSegment(p3, p4, p2) { return true }
        if d3 == 0 && onSegment(p1, p2, p3) { return true }
        if d4 == 0 && onSegment(p1, p2, p4) { return true }
        return false
    }
}
