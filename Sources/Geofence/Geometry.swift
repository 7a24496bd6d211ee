import Foundation

/// Mean Earth radius (IUGG R1); the sphere is within 0.5 % of the ellipsoid everywhere.
let earthRadiusMeters = 6_371_008.8

/// A point in a local plane, meters east (x) and north (y) of the projection origin.
struct Planar: Sendable, Equatable {
    var x: Double
    var y: Double

    static func - (a: Planar, b: Planar) -> Planar { Planar(x: a.x - b.x, y: a.y - b.y) }
    static func + (a: Planar, b: Planar) -> Planar { Planar(x: a.x + b.x, y: a.y + b.y) }
    static func * (a: Planar, s: Double) -> Planar { Planar(x: a.x * s, y: a.y * s) }
    func dot(_ o: Planar) -> Double { x * o.x + y * o.y }
    func cross(_ o: Planar) -> Double { x * o.y - y * o.x }
    var length: Double { (x * x + y * y).squareRoot() }
}

/// Spherical azimuthal equidistant projection: distances from the origin are exact and other distances are off by
/// about (d/R)^2 / 6, i.e. under a millimetre at 10 km. Good for zones of up to 50 km.
struct LocalProjection: Sendable, Equatable {
    let origin: GeoPoint
    private let sinLat0: Double
    private let cosLat0: Double

    init(origin: GeoPoint) {
        self.origin = origin
        let lat0 = origin.latitude * .pi / 180
        sinLat0 = sin(lat0)
        cosLat0 = cos(lat0)
    }

    /// nil for invalid points or points near the antipode, where the projection degenerates.
    func project(_ p: GeoPoint) -> Planar? {
        guard p.isValid else { return nil }
        let lat = p.latitude * .pi / 180
        var dLon = (p.longitude - origin.longitude) * .pi / 180
        if dLon > .pi { dLon -= 2 * .pi } else if dLon < -.pi { dLon += 2 * .pi }
        let sinLat = sin(lat), cosLat = cos(lat)
        let sinHalfDLat = sin((lat - origin.latitude * .pi / 180) / 2)
        let sinHalfDLon = sin(dLon / 2)
        let a = sinHalfDLat * sinHalfDLat + cosLat0 * cosLat * sinHalfDLon * sinHalfDLon
        let c = 2 * asin(min(1, max(0, a)).squareRoot())
        let sinC = sin(c)
        guard c < 3 else { return nil }  // far beyond any zone; avoids the antipodal singularity
        let k = c < 1e-12 ? 1 : c / sinC
        let x = earthRadiusMeters * k * cosLat * sin(dLon)
        let y = earthRadiusMeters * k * (cosLat0 * sinLat - sinLat0 * cosLat * cos(dLon))
        guard x.isFinite, y.isFinite else { return nil }
        return Planar(x: x, y: y)
    }
}

/// A closed interval of segment parameters in [0, 1].
struct ParamInterval {
    var lo: Double
    var hi: Double
}

/// Where a straight segment goes beyond a distance threshold from a shape, as fractions of the segment.
public struct Excursion: Sendable, Equatable {
    /// First fraction at which the segment is at least the threshold beyond the edge.
    public var leaves: Double
    /// Fraction from which the segment stays closer than the threshold until its end (1 if it ends beyond).
    public var returns: Double
}

/// A shape projected once into a local plane, so each fix costs one projection and a pass over the edges.
enum PreparedShape: Sendable {
    case circle(center: GeoPoint, radius: Double, projection: LocalProjection)
    case polygon(projection: LocalProjection, vertices: [Planar], radius: Double)

    /// nil when the shape is not valid (see `ZoneValidation`).
    init?(_ shape: ZoneShape) {
        guard ZoneValidation.problems(shape).isEmpty else { return nil }
        self.init(trusted: shape)
    }

    /// Skips validation; callers must have validated.
    init?(trusted shape: ZoneShape) {
        switch shape {
        case let .circle(center, radius):
            self = .circle(center: center, radius: radius, projection: LocalProjection(origin: center))
        case let .polygon(points):
            guard let (projection, vertices) = PreparedShape.project(points) else { return nil }
            let centroid = PreparedShape.areaCentroid(vertices) ?? PreparedShape.vertexMean(vertices)
            let radius = vertices.map { ($0 - centroid).length }.max() ?? 0
            self = .polygon(projection: projection, vertices: vertices, radius: radius)
        }
    }

    var projection: LocalProjection {
        switch self {
        case let .circle(_, _, projection): projection
        case let .polygon(projection, _, _): projection
        }
    }

    /// Radius for the default buffer: the circle's, or the largest centroid-to-vertex distance of a polygon.
    var radius: Double {
        switch self {
        case let .circle(_, radius, _): radius
        case let .polygon(_, _, radius): radius
        }
    }

    /// Drops the optional closing vertex and projects around the vertex mean; nil on invalid input.
    static func project(_ points: [GeoPoint]) -> (LocalProjection, [Planar])? {
        var points = points
        if points.count > 1, points.first == points.last { points.removeLast() }
        guard !points.isEmpty, points.allSatisfy(\.isValid) else { return nil }
        let n = Double(points.count)
        let mean = GeoPoint(
            latitude: points.reduce(0) { $0 + $1.latitude } / n,
            longitude: points.reduce(0) { $0 + $1.longitude } / n)
        let projection = LocalProjection(origin: mean)
        var vertices: [Planar] = []
        vertices.reserveCapacity(points.count)
        for p in points {
            guard let v = projection.project(p) else { return nil }
            vertices.append(v)
        }
        return (projection, vertices)
    }

    static func signedArea(_ v: [Planar]) -> Double {
        guard v.count >= 3 else { return 0 }
        var sum = 0.0
        for i in v.indices { sum += v[i].cross(v[(i + 1) % v.count]) }
        return sum / 2
    }

    static func areaCentroid(_ v: [Planar]) -> Planar? {
        let area = signedArea(v)
        guard abs(area) > 1e-9 else { return nil }
        var cx = 0.0, cy = 0.0
        for i in v.indices {
            let a = v[i], b = v[(i + 1) % v.count]
            let f = a.cross(b)
            cx += (a.x + b.x) * f
            cy += (a.y + b.y) * f
        }
        return Planar(x: cx / (6 * area), y: cy / (6 * area))
    }

    static func vertexMean(_ v: [Planar]) -> Planar {
        guard !v.isEmpty else { return Planar(x: 0, y: 0) }
        let s = v.reduce(Planar(x: 0, y: 0), +)
        return s * (1 / Double(v.count))
    }

    /// Negative inside, positive outside, 0 on the edge; nil for invalid points.
    func signedDistance(_ p: GeoPoint) -> Double? {
        switch self {
        case let .circle(center, radius, _):
            guard p.isValid else { return nil }
            return GeoMath.haversineMeters(center, p) - radius
        case let .polygon(projection, vertices, _):
            guard let q = projection.project(p) else { return nil }
            return PreparedShape.signedDistance(q, vertices)
        }
    }

    static func signedDistance(_ q: Planar, _ v: [Planar]) -> Double {
        var best = Double.infinity
        var inside = false
        var j = v.count - 1
        for i in v.indices {
            let a = v[j], b = v[i]
            best = min(best, distanceToSegment(q, a, b))
            // Even-odd ray casting towards +x.
            if (b.y > q.y) != (a.y > q.y) {
                let xCross = b.x + (q.y - b.y) / (a.y - b.y) * (a.x - b.x)
                if q.x < xCross { inside.toggle() }
            }
            j = i
        }
        return inside ? -best : best
    }

    static func distanceToSegment(_ q: Planar, _ a: Planar, _ b: Planar) -> Double {
        let ab = b - a
        let lenSq = ab.dot(ab)
        guard lenSq > 0 else { return (q - a).length }
        let t = min(1, max(0, (q - a).dot(ab) / lenSq))
        return (q - (a + ab * t)).length
    }

    /// Where the segment from `from` to `to` gets at least `threshold` meters beyond the edge; nil if it never does.
    /// Exact in the projected plane: the set of points closer than the threshold is the union of the shape and a
    /// capsule around every edge, so the segment's "near" parameters are a union of intervals.
    func excursion(from: GeoPoint, to: GeoPoint, threshold: Double) -> Excursion? {
        guard threshold.isFinite, threshold >= 0 else { return nil }
        let projection = self.projection
        guard let a = projection.project(from), let b = projection.project(to) else { return nil }
        let u = b - a
        var near: [ParamInterval] = []
        switch self {
        case let .circle(_, radius, _):
            // Distances from the centre are exact in this projection, so the buffered circle is a disk.
            if let i = PreparedShape.diskInterval(a, u, center: Planar(x: 0, y: 0), radius: radius + threshold) {
                near.append(i)
            }
        case let .polygon(_, vertices, _):
            var crossings: [Double] = [0, 1]
            var j = vertices.count - 1
            for i in vertices.indices {
                let p = vertices[j], q = vertices[i]
                if let c = PreparedShape.capsuleInterval(a, u, p, q, threshold) { near.append(c) }
                if let s = PreparedShape.segmentCrossing(a, u, p, q) { crossings.append(s) }
                j = i
            }
            crossings.sort()
            // Between consecutive edge crossings the segment is either wholly inside or wholly outside.
            for k in 0..<(crossings.count - 1) where crossings[k + 1] > crossings[k] {
                let mid = a + u * ((crossings[k] + crossings[k + 1]) / 2)
                if PreparedShape.signedDistance(mid, vertices) <= 0 {
                    near.append(ParamInterval(lo: crossings[k], hi: crossings[k + 1]))
                }
            }
        }
        return PreparedShape.firstGap(near)
    }

    /// Merges the near intervals and reports the first uncovered parameter and the start of the final covered run.
    static func firstGap(_ intervals: [ParamInterval]) -> Excursion? {
        let sorted = intervals
            .map { ParamInterval(lo: max(0, $0.lo), hi: min(1, $0.hi)) }
            .filter { $0.lo <= $0.hi }
            .sorted { $0.lo < $1.lo }
        var merged: [ParamInterval] = []
        let slack = 1e-12
        for i in sorted {
            if var last = merged.last, i.lo <= last.hi + slack {
                last.hi = max(last.hi, i.hi)
                merged[merged.count - 1] = last
            } else {
                merged.append(i)
            }
        }
        guard let first = merged.first, let last = merged.last else { return Excursion(leaves: 0, returns: 1) }
        if first.lo > slack { return Excursion(leaves: 0, returns: last.hi >= 1 - slack ? last.lo : 1) }
        if first.hi >= 1 - slack { return nil }
        return Excursion(leaves: first.hi, returns: last.hi >= 1 - slack && merged.count > 1 ? last.lo : 1)
    }

    /// Parameters s where |a + s u - center| <= radius.
    static func diskInterval(_ a: Planar, _ u: Planar, center: Planar, radius: Double) -> ParamInterval? {
        let w = a - center
        let qa = u.dot(u), qb = 2 * u.dot(w), qc = w.dot(w) - radius * radius
        if qa <= 1e-18 { return qc <= 0 ? ParamInterval(lo: 0, hi: 1) : nil }
        let disc = qb * qb - 4 * qa * qc
        guard disc >= 0 else { return nil }
        let r = disc.squareRoot()
        return ParamInterval(lo: (-qb - r) / (2 * qa), hi: (-qb + r) / (2 * qa))
    }

    /// Parameters s where a + s u is within `t` of the edge p-q (a capsule: rectangle plus two end disks).
    static func capsuleInterval(_ a: Planar, _ u: Planar, _ p: Planar, _ q: Planar, _ t: Double) -> ParamInterval? {
        var parts: [ParamInterval] = []
        if let d = diskInterval(a, u, center: p, radius: t) { parts.append(d) }
        if let d = diskInterval(a, u, center: q, radius: t) { parts.append(d) }
        let e = q - p
        let len = e.length
        if len > 0 {
            let dir = e * (1 / len)
            let w = a - p
            // along = w.dir + s u.dir in [0, len]; across = dir x w + s dir x u in [-t, t]
            var lo = -Double.infinity, hi = Double.infinity
            for (c0, c1, min, max) in [(w.dot(dir), u.dot(dir), 0.0, len), (dir.cross(w), dir.cross(u), -t, t)] {
                if abs(c1) < 1e-15 {
                    if c0 < min || c0 > max { lo = 1; hi = 0 }
                } else {
                    let s1 = (min - c0) / c1, s2 = (max - c0) / c1
                    lo = Swift.max(lo, Swift.min(s1, s2))
                    hi = Swift.min(hi, Swift.max(s1, s2))
                }
            }
            if lo <= hi { parts.append(ParamInterval(lo: lo, hi: hi)) }
        }
        guard !parts.isEmpty else { return nil }
        // The capsule is convex, so the parts overlap into one interval.
        return ParamInterval(lo: parts.map(\.lo).min() ?? 0, hi: parts.map(\.hi).max() ?? 0)
    }

    /// Parameter s in [0, 1] where a + s u crosses the edge p-q, if it does (parallel edges are ignored:
    /// touching them is covered by the capsule intervals).
    static func segmentCrossing(_ a: Planar, _ u: Planar, _ p: Planar, _ q: Planar) -> Double? {
        let e = q - p
        let denom = u.cross(e)
        guard abs(denom) > 1e-18 else { return nil }
        let w = p - a
        let s = w.cross(e) / denom
        let r = w.cross(u) / denom
        guard (0...1).contains(s), (0...1).contains(r) else { return nil }
        return s
    }
}

/// Stateless geometry helpers. They prepare the shape on every call; use `PreparedZone` in hot paths.
public enum GeoMath {
    /// Great-circle distance on the mean sphere; NaN for invalid points.
    public static func haversineMeters(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        guard a.isValid, b.isValid else { return .nan }
        let lat1 = a.latitude * .pi / 180, lat2 = b.latitude * .pi / 180
        let sinDLat = sin((lat2 - lat1) / 2)
        let sinDLon = sin((b.longitude - a.longitude) * .pi / 180 / 2)
        let h = sinDLat * sinDLat + cos(lat1) * cos(lat2) * sinDLon * sinDLon
        return 2 * earthRadiusMeters * asin(min(1, max(0, h)).squareRoot())
    }

    /// Distance to the zone's edge: negative inside, positive outside; nil for invalid points or shapes.
    public static func signedDistanceToEdgeMeters(_ point: GeoPoint, _ shape: ZoneShape) -> Double? {
        PreparedShape(shape)?.signedDistance(point)
    }

    /// Whether the point is inside the zone or on its edge; false for invalid input.
    public static func contains(_ shape: ZoneShape, _ point: GeoPoint) -> Bool {
        guard let d = signedDistanceToEdgeMeters(point, shape) else { return false }
        return d <= 0
    }

    /// The fraction (0...1) along the straight segment at which it first gets `bufferMeters` beyond the edge,
    /// or nil if it never does (or the input is invalid).
    public static func segmentLeaves(_ shape: ZoneShape, from: GeoPoint, to: GeoPoint, bufferMeters: Double) -> Double? {
        PreparedShape(shape)?.excursion(from: from, to: to, threshold: bufferMeters)?.leaves
    }
}
