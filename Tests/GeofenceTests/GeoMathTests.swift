import Foundation
import Testing
@testable import Geofence

@Suite struct GeoMathTests {
    @Test func haversineMatchesKnownDistances() {
        let oneDegree = GeoMath.haversineMeters(GeoPoint(latitude: 57, longitude: 12), GeoPoint(latitude: 58, longitude: 12))
        #expect(abs(oneDegree - 111_195) / 111_195 < 0.005)
        // London - Paris, commonly quoted 343.5 km great-circle.
        let londonParis = GeoMath.haversineMeters(
            GeoPoint(latitude: 51.5074, longitude: -0.1278), GeoPoint(latitude: 48.8566, longitude: 2.3522))
        #expect(abs(londonParis - 343_500) / 343_500 < 0.005)
        // Gothenburg Central - Stockholm Central, about 398 km.
        let gbgSthlm = GeoMath.haversineMeters(
            GeoPoint(latitude: 57.7089, longitude: 11.9733), GeoPoint(latitude: 59.3303, longitude: 18.0586))
        #expect(abs(gbgSthlm - 398_000) / 398_000 < 0.005)
        // One degree of longitude at Järntorget's latitude.
        let east = GeoMath.haversineMeters(Gbg.jarntorget, GeoPoint(latitude: 57.6996, longitude: 12.9527))
        let expected = 111_195 * cos(57.6996 * .pi / 180)
        #expect(abs(east - expected) / expected < 0.005)
    }

    @Test func haversineIsSymmetricAndZeroOnSelf() {
        #expect(GeoMath.haversineMeters(Gbg.jarntorget, Gbg.jarntorget) == 0)
        let a = GeoMath.haversineMeters(Gbg.jarntorget, Gbg.slottsskogen)
        let b = GeoMath.haversineMeters(Gbg.slottsskogen, Gbg.jarntorget)
        #expect(a == b)
        #expect(a > 1_600 && a < 1_800)
    }

    @Test func haversineOfInvalidPointsIsNaN() {
        #expect(GeoMath.haversineMeters(GeoPoint(latitude: .nan, longitude: 0), Gbg.jarntorget).isNaN)
        #expect(GeoMath.haversineMeters(Gbg.jarntorget, GeoPoint(latitude: 0, longitude: 200)).isNaN)
    }

    @Test func concaveLShapeExcludesTheNotch() {
        let shape = polygon(around: Gbg.careHome, lShapeMeters)
        #expect(GeoMath.contains(shape, offset(Gbg.careHome, east: 20, north: 20)))
        #expect(GeoMath.contains(shape, offset(Gbg.careHome, east: 100, north: 20)))
        #expect(GeoMath.contains(shape, offset(Gbg.careHome, east: 20, north: 100)))
        #expect(!GeoMath.contains(shape, offset(Gbg.careHome, east: 80, north: 80)))  // in the notch
        #expect(!GeoMath.contains(shape, offset(Gbg.careHome, east: 45, north: 45)))  // just inside the notch corner
        #expect(!GeoMath.contains(shape, offset(Gbg.careHome, east: -10, north: 60)))
    }

    @Test func concaveUShapeExcludesTheCourtyard() {
        let shape = polygon(around: Gbg.careHome, uShapeMeters)
        #expect(!GeoMath.contains(shape, offset(Gbg.careHome, east: 75, north: 80)))
        #expect(GeoMath.contains(shape, offset(Gbg.careHome, east: 20, north: 100)))
        #expect(GeoMath.contains(shape, offset(Gbg.careHome, east: 130, north: 100)))
        #expect(GeoMath.contains(shape, offset(Gbg.careHome, east: 75, north: 20)))
        // Courtyard: 30 m from both wings, 40 m from the south block, open to the north.
        let d = GeoMath.signedDistanceToEdgeMeters(offset(Gbg.careHome, east: 75, north: 80), shape)
        #expect(d.map { abs($0 - 30) < 0.1 } == true)
    }

    @Test func closingVertexIsOptional() {
        var closed = lShapeMeters
        closed.append(lShapeMeters[0])
        let p = offset(Gbg.careHome, east: 80, north: 50)
        let a = GeoMath.signedDistanceToEdgeMeters(p, polygon(around: Gbg.careHome, lShapeMeters))
        let b = GeoMath.signedDistanceToEdgeMeters(p, polygon(around: Gbg.careHome, closed))
        #expect(a != nil && a == b)
    }

    @Test func signedDistanceNearEdges() throws {
        let square = polygon(around: Gbg.jarntorget, [(0, 0), (100, 0), (100, 100), (0, 100)])
        let out = try #require(GeoMath.signedDistanceToEdgeMeters(offset(Gbg.jarntorget, east: 110, north: 50), square))
        #expect(abs(out - 10) < 0.05)
        let inside = try #require(GeoMath.signedDistanceToEdgeMeters(offset(Gbg.jarntorget, east: 90, north: 50), square))
        #expect(abs(inside + 10) < 0.05)
        let onEdge = try #require(GeoMath.signedDistanceToEdgeMeters(offset(Gbg.jarntorget, east: 100, north: 50), square))
        #expect(abs(onEdge) < 0.05)

        let circle = ZoneShape.circle(center: Gbg.jarntorget, radiusMeters: 100)
        let c = try #require(GeoMath.signedDistanceToEdgeMeters(offset(Gbg.jarntorget, north: 105), circle))
        #expect(abs(c - 5) < 0.01)
        #expect(GeoMath.signedDistanceToEdgeMeters(GeoPoint(latitude: .nan, longitude: 1), circle) == nil)
        #expect(GeoMath.signedDistanceToEdgeMeters(Gbg.jarntorget, .circle(center: Gbg.jarntorget, radiusMeters: 0)) == nil)
    }

    /// A 4 km block: the projected distance to a corner must match the great-circle distance to well under 1 m.
    @Test func projectionIsAccurateForKilometreZones() throws {
        let origin = Gbg.slottsskogen
        let corners = [(0.0, 0.0), (4000.0, 0.0), (4000.0, 4000.0), (0.0, 4000.0)]
        let shape = ZoneShape.polygon(corners.map { offset(origin, east: $0.0, north: $0.1) })
        guard case let .polygon(vertices) = shape else { return }
        let corner = vertices[2]
        let beyond = offset(corner, east: 300, north: 300)
        let d = try #require(GeoMath.signedDistanceToEdgeMeters(beyond, shape))
        #expect(abs(d - GeoMath.haversineMeters(corner, beyond)) < 0.5)
    }

    @Test func segmentLeavesThroughTheNotch() throws {
        let shape = polygon(around: Gbg.careHome, lShapeMeters)
        let eastArm = offset(Gbg.careHome, east: 110, north: 30)
        let northArm = offset(Gbg.careHome, east: 30, north: 110)
        let s = try #require(GeoMath.segmentLeaves(shape, from: eastArm, to: northArm, bufferMeters: 20))
        #expect(s > 0 && s < 0.5)
        // Within one arm the walk never leaves.
        #expect(GeoMath.segmentLeaves(shape, from: offset(Gbg.careHome, east: 10, north: 10),
                                      to: northArm, bufferMeters: 20) == nil)
        // With a buffer deeper than the notch's reach nothing counts.
        #expect(GeoMath.segmentLeaves(shape, from: eastArm, to: northArm, bufferMeters: 60) == nil)
        // Circle: from the centre to 300 m out leaves at (100 + 20) / 300.
        let circle = ZoneShape.circle(center: Gbg.jarntorget, radiusMeters: 100)
        let c = try #require(GeoMath.segmentLeaves(circle, from: Gbg.jarntorget,
                                                   to: offset(Gbg.jarntorget, east: 300), bufferMeters: 20))
        #expect(abs(c - 0.4) < 0.001)
    }
}
