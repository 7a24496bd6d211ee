import Foundation
import Testing
@testable import Geofence

/// A 100 m circle at Järntorget: default buffer max(10 m, 20 m) = 20 m.
let home = Zone(id: 7, name: "Home", shape: .circle(center: Gbg.jarntorget, radiusMeters: 100))
func north(_ meters: Double) -> GeoPoint { offset(Gbg.jarntorget, north: meters) }

@Suite struct HysteresisAndAccuracyTests {
    @Test func defaultBuffers() {
        #expect(PreparedZone(home).exitBufferMeters == 20)
        let big = Zone(id: 1, name: "Park", shape: .circle(center: Gbg.slottsskogen, radiusMeters: 500))
        #expect(PreparedZone(big).exitBufferMeters == 50)
        // L-shape: centroid to farthest vertex is about 95 m, so the 20 m floor applies.
        let l = Zone(id: 2, name: "Block", shape: polygon(around: Gbg.careHome, lShapeMeters))
        #expect(PreparedZone(l).exitBufferMeters == 20)
        let bigSquare = Zone(id: 3, name: "Big", shape: polygon(around: Gbg.careHome, [(0, 0), (1000, 0), (1000, 1000), (0, 1000)]))
        #expect(abs(PreparedZone(bigSquare).exitBufferMeters - 70.71) < 0.1)
        var tuned = home
        tuned.tuning.exitBufferMeters = 35
        #expect(PreparedZone(tuned).exitBufferMeters == 35)
    }

    @Test func classification() {
        let zone = PreparedZone(home)
        #expect(zone.classify(fix(0, north(105), accuracy: 10)).0 == .uncertain)   // 5 m out, 10 m accuracy
        #expect(zone.classify(fix(0, north(129), accuracy: 10)).0 == .uncertain)   // just short of 20 + 10
        #expect(zone.classify(fix(0, north(131), accuracy: 10)).0 == .outside)
        #expect(zone.classify(fix(0, north(99), accuracy: 10)).0 == .inside)
        #expect(zone.classify(fix(0, north(121))).0 == .outside)                   // no accuracy: buffer only
        // Worse than the limit: never outside, inside only with the whole circle inside.
        #expect(zone.classify(fix(0, north(5_000), accuracy: 150)).0 == .uncertain)
        #expect(zone.classify(fix(0, north(50), accuracy: 150)).0 == .uncertain)
    }

    @Test func jitterOnTheEdgeRaisesNothing() {
        var device = DeviceGeofence()
        var rng = SplitMix64(state: 42)
        var actions: [GeofenceAction] = []
        for i in 0..<100 {
            let r = 100 + Double.random(in: -15...15, using: &rng)
            let bearing = Double.random(in: 0..<(2 * .pi), using: &rng)
            let p = offset(Gbg.jarntorget, east: r * sin(bearing), north: r * cos(bearing))
            actions += device.apply(fix(Double(i * 10), p, accuracy: Double.random(in: 5...15, using: &rng)),
                                    zones: [home], calendar: AlwaysActive())
            actions += device.tick(nowMicros: seconds(Double(i * 10 + 5)), zones: [home], calendar: AlwaysActive())
        }
        #expect(actions.isEmpty)
    }

    @Test func inaccurateFixesDoNotCount() {
        let park = Zone(id: 1, name: "Park", shape: .circle(center: Gbg.slottsskogen, radiusMeters: 200))
        var device = DeviceGeofence()
        var actions: [GeofenceAction] = []
        for i in 0..<20 {
            // 60 m out with 50 m accuracy: the circle reaches back into the 20 m buffer.
            actions += device.apply(fix(Double(i * 30), offset(Gbg.slottsskogen, east: 260), accuracy: 50),
                                    zones: [park], calendar: AlwaysActive())
            actions += device.tick(nowMicros: seconds(Double(i * 30 + 15)), zones: [park], calendar: AlwaysActive())
        }
        for i in 20..<40 {
            actions += device.apply(fix(Double(i * 30), offset(Gbg.slottsskogen, east: 2_000), accuracy: 150),
                                    zones: [park], calendar: AlwaysActive())
            actions += device.tick(nowMicros: seconds(Double(i * 30 + 15)), zones: [park], calendar: AlwaysActive())
        }
        #expect(actions.isEmpty)
    }

    @Test func inaccurateFixInsideDoesNotResetTheRun() {
        var zone = home
        zone.tuning.confirmSeconds = 3600
        var device = DeviceGeofence()
        #expect(device.apply(fix(0, north(200), accuracy: 10), zones: [zone], calendar: AlwaysActive()).isEmpty)
        #expect(device.apply(fix(10, north(50), accuracy: 150), zones: [zone], calendar: AlwaysActive()).isEmpty)
        let actions = device.apply(fix(20, north(210), accuracy: 10), zones: [zone], calendar: AlwaysActive())
        #expect(actions.count == 1 && actions.first?.isExit == true)
    }
}

@Suite struct ConfirmationTests {
    @Test func twoOutsideFixesConfirm() {
        var device = DeviceGeofence()
        #expect(device.apply(fix(0, north(50), accuracy: 5), zones: [home], calendar: AlwaysActive()).isEmpty)
        #expect(device.apply(fix(10, north(140), accuracy: 5), zones: [home], calendar: AlwaysActive()).isEmpty)
        let second = fix(20, north(150), accuracy: 5)
        let actions = device.apply(second, zones: [home], calendar: AlwaysActive())
        guard case let .exit(zoneId, f, distance, at)? = actions.first else {
            Issue.record("expected an exit, got \(actions)")
            return
        }
        #expect(actions.count == 1)
        #expect(zoneId == 7 && f == second && at == seconds(20))
        #expect(abs(distance - 50) < 0.1)
    }

    @Test func dwellConfirmsByTick() {
        var zone = home
        zone.tuning.confirmFixes = 5
        var device = DeviceGeofence()
        let out = fix(0, north(150), accuracy: 5)
        #expect(device.apply(out, zones: [zone], calendar: AlwaysActive()).isEmpty)
        #expect(device.tick(nowMicros: seconds(30), zones: [zone], calendar: AlwaysActive()).isEmpty)
        #expect(device.tick(nowMicros: seconds(59.9), zones: [zone], calendar: AlwaysActive()).isEmpty)
        let actions = device.tick(nowMicros: seconds(61), zones: [zone], calendar: AlwaysActive())
        #expect(actions == [.exit(zoneId: 7, fix: out, distanceMeters: device.tracks[7]?.lastOutsideDistanceMeters ?? -1,
                                  atMicros: seconds(60))])
        #expect(device.tick(nowMicros: seconds(120), zones: [zone], calendar: AlwaysActive()).isEmpty)
    }

    @Test func uncertainFixesNeitherCountNorReset() {
        var zone = home
        zone.tuning.confirmSeconds = 3600
        var device = DeviceGeofence()
        #expect(device.apply(fix(0, north(150)), zones: [zone], calendar: AlwaysActive()).isEmpty)
        #expect(device.apply(fix(10, north(110)), zones: [zone], calendar: AlwaysActive()).isEmpty)  // uncertain
        #expect(device.apply(fix(20, north(150)), zones: [zone], calendar: AlwaysActive()).count == 1)
    }

    @Test func insideFixResetsCountAndDwell() {
        var device = DeviceGeofence()
        var actions: [GeofenceAction] = []
        for i in 0..<10 {
            let p = i % 2 == 0 ? north(150) : north(90)
            actions += device.apply(fix(Double(i * 40), p), zones: [home], calendar: AlwaysActive())
            actions += device.tick(nowMicros: seconds(Double(i * 40 + 39)), zones: [home], calendar: AlwaysActive())
        }
        #expect(actions.isEmpty)
    }

    @Test func oneExitPerExcursionAndOneReturn() {
        var device = DeviceGeofence()
        var actions: [GeofenceAction] = []
        for i in 0..<20 {
            actions += device.apply(fix(Double(i * 10), north(200 + Double(i))), zones: [home], calendar: AlwaysActive())
            actions += device.tick(nowMicros: seconds(Double(i * 10 + 5)), zones: [home], calendar: AlwaysActive())
        }
        #expect(actions.filter(\.isExit).count == 1)
        let back = device.apply(fix(300, north(20)), zones: [home], calendar: AlwaysActive())
        #expect(back == [.returned(zoneId: 7, fix: fix(300, north(20)), atMicros: seconds(300))])
        #expect(device.apply(fix(310, north(10)), zones: [home], calendar: AlwaysActive()).isEmpty)
        // Re-armed: a second excursion raises a second exit. The walk from 10 m in to 300 m out crosses the
        // buffer at about 2/3 of the segment, which only dates the run; the second fix confirms it.
        #expect(device.apply(fix(320, north(300)), zones: [home], calendar: AlwaysActive()).isEmpty)
        #expect(device.apply(fix(325, north(310)), zones: [home], calendar: AlwaysActive()).filter(\.isExit).count == 1)
    }

    @Test func invalidZonesAndFixesAreIgnored() {
        let bad = Zone(id: 9, name: "Bad", shape: .circle(center: Gbg.jarntorget, radiusMeters: .nan))
        var device = DeviceGeofence()
        for i in 0..<5 {
            #expect(device.apply(fix(Double(i), north(500)), zones: [bad], calendar: AlwaysActive()).isEmpty)
        }
        #expect(device.apply(Fix(atMicros: seconds(10), point: GeoPoint(latitude: .nan, longitude: 0)), zones: [home],
                             calendar: AlwaysActive()).isEmpty)
        #expect(device.apply(Fix(atMicros: seconds(10), point: north(500), accuracyMeters: -1), zones: [home],
                             calendar: AlwaysActive()).isEmpty)
        #expect(device.lastFix?.atMicros == seconds(4))
    }

    @Test func removedZonesForgetTheirState() {
        var device = DeviceGeofence()
        _ = device.apply(fix(0, north(300)), zones: [home], calendar: AlwaysActive())
        #expect(device.tracks[7] != nil)
        _ = device.tick(nowMicros: seconds(1), zones: [Zone](), calendar: AlwaysActive())
        #expect(device.tracks.isEmpty)
    }
}

@Suite struct SparseFixTests {
    let block = Zone(id: 3, name: "Care home", shape: polygon(around: Gbg.careHome, lShapeMeters))
    var eastArm: GeoPoint { offset(Gbg.careHome, east: 110, north: 30) }
    var northArm: GeoPoint { offset(Gbg.careHome, east: 30, north: 110) }

    @Test func walkThroughTheNotchBetweenInsideFixesRaisesExitAndReturn() throws {
        var device = DeviceGeofence()
        #expect(device.apply(fix(0, eastArm), zones: [block], calendar: AlwaysActive()).isEmpty)
        let actions = device.apply(fix(300, northArm), zones: [block], calendar: AlwaysActive())
        #expect(actions.count == 2)
        guard case let .exit(_, crossing, distance, at)? = actions.first else {
            Issue.record("expected exit, got \(actions)")
            return
        }
        // Leaves the 20 m buffer when the segment is 20 m from the notch corner (40, 40): the path is
        // x + y = 140, so at (80, 60)... the first point 20 m beyond edge y = 40 is (80, 60): s = 30/80 = 0.375.
        let leaveSeconds = 300 * 0.375
        #expect(abs(Double(crossing.atMicros) / 1e6 - leaveSeconds) < 0.5)
        #expect(abs(distance - 20) < 0.1)
        #expect(at == crossing.atMicros + seconds(60))          // confirmed by the dwell while out of sight
        #expect(actions.last == .returned(zoneId: 3, fix: fix(300, northArm), atMicros: seconds(300)))
    }

    @Test func quickCutThroughTheNotchIsForgiven() {
        var device = DeviceGeofence()
        _ = device.apply(fix(0, eastArm), zones: [block], calendar: AlwaysActive())
        // Out of the buffer for about 10 s of the 40 s: one observation, no dwell.
        #expect(device.apply(fix(40, northArm), zones: [block], calendar: AlwaysActive()).isEmpty)
        #expect(device.tracks[3]?.consecutiveOutside ?? 0 == 0)
    }

    @Test func insideThenFarOutsideDatesTheRunFromTheCrossing() {
        var device = DeviceGeofence()
        _ = device.apply(fix(0, Gbg.jarntorget), zones: [home], calendar: AlwaysActive())
        // 400 m out: the segment passes 120 m (edge + buffer) at 30 % of the way, i.e. at t = 12 s.
        let far = fix(40, north(400))
        #expect(device.apply(far, zones: [home], calendar: AlwaysActive()).isEmpty)
        #expect(abs((device.tracks[7]?.outsideSinceMicros ?? 0) - seconds(12)) <= 1_000)
        // One fix alone dwells from itself (40 s), not from the crossing: no exit at 72 s, one at 100 s.
        #expect(device.tick(nowMicros: seconds(72.1), zones: [home], calendar: AlwaysActive()).isEmpty)
        #expect(device.tick(nowMicros: seconds(99.9), zones: [home], calendar: AlwaysActive()).isEmpty)
        let actions = device.tick(nowMicros: seconds(100.1), zones: [home], calendar: AlwaysActive())
        #expect(actions.count == 1)
        #expect(abs((actions.first?.atMicros ?? 0) - seconds(100)) <= 1_000)
        if case let .exit(_, f, _, _)? = actions.first { #expect(f == far) }
    }

    @Test func longGapsAreNotInterpolated() {
        var device = DeviceGeofence()
        _ = device.apply(fix(0, eastArm), zones: [block], calendar: AlwaysActive())
        #expect(device.apply(fix(3600, northArm), zones: [block], calendar: AlwaysActive()).isEmpty)
    }

    @Test func inaccurateEndpointsAreNotInterpolated() {
        var device = DeviceGeofence()
        _ = device.apply(fix(0, eastArm, accuracy: 120), zones: [block], calendar: AlwaysActive())
        #expect(device.apply(fix(300, northArm, accuracy: 5), zones: [block], calendar: AlwaysActive()).isEmpty)
    }
}
