import Foundation
import Testing
@testable import Geofence

@Suite struct ScheduleTests {
    /// Night window 1000 s ... 2000 s.
    let night = WindowCalendar(windows: [seconds(1000)..<seconds(2000)])

    @Test func inactiveZoneIsNotEvaluated() {
        var device = DeviceGeofence()
        var actions: [GeofenceAction] = []
        for i in 0..<20 {
            actions += device.apply(fix(Double(i * 10), north(500)), zones: [home], calendar: night)
            actions += device.tick(nowMicros: seconds(Double(i * 10 + 5)), zones: [home], calendar: night)
        }
        #expect(actions.isEmpty)
        #expect(device.tracks[7] == nil)
    }

    @Test func windowStartingWhileOutsideRaisesAtTheStartByTick() {
        var device = DeviceGeofence()
        let lastOut = fix(110, north(500), accuracy: 10)
        _ = device.apply(fix(100, north(500), accuracy: 10), zones: [home], calendar: night)
        _ = device.apply(lastOut, zones: [home], calendar: night)
        #expect(device.tick(nowMicros: seconds(999), zones: [home], calendar: night).isEmpty)
        let actions = device.tick(nowMicros: seconds(1003), zones: [home], calendar: night)
        #expect(actions.count == 1)
        guard case let .exit(zoneId, f, _, at)? = actions.first else { return }
        #expect(zoneId == 7 && f == lastOut && at == seconds(1000))
        #expect(device.tick(nowMicros: seconds(1100), zones: [home], calendar: night).isEmpty)
        #expect(device.apply(fix(1200, north(600)), zones: [home], calendar: night).isEmpty)
        #expect(device.apply(fix(1300, north(10)), zones: [home], calendar: night).filter(\.isReturn).count == 1)
    }

    @Test func windowStartingWhileOutsideRaisesAtTheStartByNextFix() {
        var device = DeviceGeofence()
        let lastOut = fix(900, north(500))
        _ = device.apply(lastOut, zones: [home], calendar: night)
        let actions = device.apply(fix(1030, north(520)), zones: [home], calendar: night)
        #expect(actions.count == 1)
        #expect(actions.first == .exit(zoneId: 7, fix: lastOut,
                                       distanceMeters: PreparedZone(home).signedDistanceMeters(lastOut.point) ?? -1,
                                       atMicros: seconds(1000)))
    }

    @Test func staleOrInsideLastFixRaisesNothingAtWindowStart() {
        var stale = DeviceGeofence()
        _ = stale.apply(fix(50, north(500)), zones: [home], calendar: night)  // 950 s before the start
        #expect(stale.tick(nowMicros: seconds(1001), zones: [home], calendar: night).isEmpty)
        var inside = DeviceGeofence()
        _ = inside.apply(fix(900, north(10)), zones: [home], calendar: night)
        #expect(inside.tick(nowMicros: seconds(1001), zones: [home], calendar: night).isEmpty)
        // The window start is handled once; normal confirmation follows.
        #expect(inside.apply(fix(1010, north(300)), zones: [home], calendar: night).isEmpty)
        #expect(inside.apply(fix(1020, north(300)), zones: [home], calendar: night).filter(\.isExit).count == 1)
    }

    @Test func windowEndClearsTheRunButKeepsARaisedExitUntilReturn() {
        var device = DeviceGeofence()
        _ = device.apply(fix(1900, north(300)), zones: [home], calendar: night)
        #expect(device.tracks[7]?.consecutiveOutside == 1)
        // After the window: the run is forgotten.
        #expect(device.apply(fix(2010, north(300)), zones: [home], calendar: night).isEmpty)
        #expect(device.tracks[7]?.consecutiveOutside == 0 && device.tracks[7]?.outsideSinceMicros == nil)

        var raised = DeviceGeofence()
        _ = raised.apply(fix(1900, north(300)), zones: [home], calendar: night)
        #expect(raised.apply(fix(1910, north(300)), zones: [home], calendar: night).count == 1)
        #expect(raised.apply(fix(2100, north(300)), zones: [home], calendar: night).isEmpty)
        #expect(raised.tracks[7]?.exitRaised == true)
        // Returning home off-schedule is still recorded on the raised exit.
        #expect(raised.apply(fix(2200, north(10)), zones: [home], calendar: night).filter(\.isReturn).count == 1)
        #expect(raised.tracks[7]?.exitRaised == false)
    }

    @Test func crossingBeforeTheWindowIsDatedAtTheWindowStart() {
        var early = DeviceGeofence()
        _ = early.apply(fix(900, Gbg.jarntorget), zones: [home], calendar: night)
        _ = early.apply(fix(1030, north(400)), zones: [home], calendar: night)
        // Segment crosses 120 m at 900 + 0.3 * 130 = 939 s, before the window: dated at 1000 s.
        #expect(early.tracks[7]?.outsideSinceMicros == seconds(1000))
        // One fix alone dwells from itself (1030 s): confirmed at 1090 s, not 1060 s.
        #expect(early.tick(nowMicros: seconds(1060), zones: [home], calendar: night).filter(\.isExit).isEmpty)
        #expect(early.tick(nowMicros: seconds(1090.1), zones: [home], calendar: night).filter(\.isExit).count == 1)
    }
}

@Suite struct OrderingAndStateTests {
    @Test func outOfOrderFixesAreIgnored() {
        var device = DeviceGeofence()
        _ = device.apply(fix(100, north(300)), zones: [home], calendar: AlwaysActive())
        #expect(device.apply(fix(50, north(300)), zones: [home], calendar: AlwaysActive()).isEmpty)
        #expect(device.tracks[7]?.consecutiveOutside == 1)
        // An exact repeat is a redelivery, not a second observation.
        #expect(device.apply(fix(100, north(300)), zones: [home], calendar: AlwaysActive()).isEmpty)
        #expect(device.tracks[7]?.consecutiveOutside == 1)
        // Same timestamp, different position: counted.
        #expect(device.apply(fix(100, north(310)), zones: [home], calendar: AlwaysActive()).count == 1)
    }

    @Test func stateRoundTripsThroughJSONAndContinuesIdentically() throws {
        let block = Zone(id: 3, name: "Care home", shape: polygon(around: Gbg.careHome, lShapeMeters),
                         tuning: ZoneTuning(confirmFixes: 3))
        let zones = [home, block]
        var device = DeviceGeofence()
        _ = device.apply(fix(0, north(300), accuracy: 12.5), zones: zones, calendar: AlwaysActive())
        _ = device.apply(fix(10, north(310), accuracy: 8), zones: zones, calendar: AlwaysActive())
        _ = device.apply(fix(20, north(320)), zones: zones, calendar: AlwaysActive())
        let data = try JSONEncoder().encode(device)
        var decoded = try JSONDecoder().decode(DeviceGeofence.self, from: data)
        #expect(decoded == device)
        let next = fix(30, north(10))
        #expect(decoded.apply(next, zones: zones, calendar: AlwaysActive())
                == device.apply(next, zones: zones, calendar: AlwaysActive()))
        #expect(decoded == device)
    }

    @Test func zonesAndActionsRoundTripAndTuningDefaultsMissingKeys() throws {
        let zone = Zone(id: 3, name: "Care home", shape: polygon(around: Gbg.careHome, uShapeMeters),
                        tuning: ZoneTuning(exitBufferMeters: 25))
        let back = try JSONDecoder().decode(Zone.self, from: JSONEncoder().encode(zone))
        #expect(back == zone)
        let tuning = try JSONDecoder().decode(ZoneTuning.self, from: Data(#"{"confirmFixes":3}"#.utf8))
        #expect(tuning == ZoneTuning(confirmFixes: 3))
        let action = GeofenceAction.exit(zoneId: 1, fix: fix(1, north(200)), distanceMeters: 100, atMicros: 5)
        #expect(try JSONDecoder().decode(GeofenceAction.self, from: JSONEncoder().encode(action)) == action)
    }
}
