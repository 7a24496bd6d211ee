import Foundation
import Testing
@testable import Geofence

@Suite struct ValidationTests {
    @Test func validShapesHaveNoProblems() {
        #expect(ZoneValidation.problems(.circle(center: Gbg.jarntorget, radiusMeters: 150)).isEmpty)
        #expect(ZoneValidation.problems(polygon(around: Gbg.careHome, lShapeMeters)).isEmpty)
        #expect(ZoneValidation.problems(polygon(around: Gbg.careHome, uShapeMeters)).isEmpty)
        // Reversed winding is fine too.
        #expect(ZoneValidation.problems(polygon(around: Gbg.careHome, lShapeMeters.reversed())).isEmpty)
    }

    @Test func bowTieIsNotSimple() {
        let bowTie = polygon(around: Gbg.careHome, [(0, 0), (100, 100), (100, 0), (0, 100)])
        #expect(ZoneValidation.problems(bowTie).contains { $0.contains("not simple") })
    }

    @Test func tooFewOrTooManyVertices() {
        let two = polygon(around: Gbg.careHome, [(0, 0), (100, 0)])
        #expect(!ZoneValidation.problems(two).isEmpty)
        let twoClosed = polygon(around: Gbg.careHome, [(0, 0), (100, 0), (0, 0)])
        #expect(!ZoneValidation.problems(twoClosed).isEmpty)
        #expect(!ZoneValidation.problems(.polygon([])).isEmpty)
        let many = (0..<1001).map { i -> (Double, Double) in
            let a = Double(i) / 1001 * 2 * .pi
            return (500 * cos(a), 500 * sin(a))
        }
        #expect(ZoneValidation.problems(polygon(around: Gbg.careHome, many)).contains { $0.contains("more than 1000") })
        #expect(ZoneValidation.problems(polygon(around: Gbg.careHome, Array(many.prefix(1000)))).isEmpty)
    }

    @Test func nonFiniteAndOutOfRangeCoordinates() {
        #expect(!ZoneValidation.problems(.circle(center: GeoPoint(latitude: .nan, longitude: 11), radiusMeters: 100)).isEmpty)
        #expect(!ZoneValidation.problems(.circle(center: GeoPoint(latitude: 91, longitude: 11), radiusMeters: 100)).isEmpty)
        #expect(!ZoneValidation.problems(.circle(center: GeoPoint(latitude: 57, longitude: -181), radiusMeters: 100)).isEmpty)
        var points = [Gbg.careHome, offset(Gbg.careHome, east: 100), offset(Gbg.careHome, north: 100)]
        points[1].longitude = .infinity
        #expect(!ZoneValidation.problems(.polygon(points)).isEmpty)
    }

    @Test func radiusLimits() {
        for bad in [0, 4.9, -100, 50_001, 1e308, .infinity, .nan] {
            #expect(!ZoneValidation.problems(.circle(center: Gbg.jarntorget, radiusMeters: bad)).isEmpty, "radius \(bad)")
        }
        #expect(ZoneValidation.problems(.circle(center: Gbg.jarntorget, radiusMeters: 5)).isEmpty)
        #expect(ZoneValidation.problems(.circle(center: Gbg.jarntorget, radiusMeters: 50_000)).isEmpty)
    }

    @Test func antimeridianPolesAndSize() {
        let fiji = [GeoPoint(latitude: -17, longitude: 179.99), GeoPoint(latitude: -17, longitude: -179.99),
                    GeoPoint(latitude: -17.01, longitude: -179.99)]
        #expect(ZoneValidation.problems(.polygon(fiji)).contains { $0.contains("antimeridian") })
        #expect(!ZoneValidation.problems(.circle(center: GeoPoint(latitude: -17, longitude: 179.9999), radiusMeters: 100)).isEmpty)
        #expect(!ZoneValidation.problems(.circle(center: GeoPoint(latitude: 89.9999, longitude: 0), radiusMeters: 100)).isEmpty)
        let huge = polygon(around: Gbg.careHome, [(0, 0), (200_000, 0), (0, 200_000)])
        #expect(!ZoneValidation.problems(huge).isEmpty)
    }

    @Test func degeneratePolygons() {
        let collinear = polygon(around: Gbg.careHome, [(0, 0), (50, 0), (100, 0)])
        #expect(!ZoneValidation.problems(collinear).isEmpty)
        let repeated = polygon(around: Gbg.careHome, [(0, 0), (100, 0), (100, 0), (0, 100)])
        #expect(!ZoneValidation.problems(repeated).isEmpty)
        let spike = polygon(around: Gbg.careHome, [(0, 0), (100, 0), (50, 0), (50, 50)])
        #expect(!ZoneValidation.problems(spike).isEmpty)
    }

    @Test func tuningProblems() {
        var zone = Zone(id: 1, name: "Home", shape: .circle(center: Gbg.jarntorget, radiusMeters: 100))
        #expect(ZoneValidation.problems(zone).isEmpty)
        zone.tuning.confirmFixes = 0
        zone.tuning.maxAccuracyMeters = .nan
        zone.tuning.exitBufferMeters = -1
        #expect(ZoneValidation.problems(zone).count == 3)
    }
}
