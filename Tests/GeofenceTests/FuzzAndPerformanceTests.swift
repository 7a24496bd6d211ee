import Foundation
import Testing
@testable import Geofence

@Suite struct FuzzTests {
    static let wildDoubles: [Double] = [.nan, .infinity, -.infinity, 1e308, -1e308, .greatestFiniteMagnitude,
                                        .leastNonzeroMagnitude, 0, -0.0, 90, -90, 180, -180, 90.0000001, 1e-300]

    func wild(_ rng: inout SplitMix64, near: Double, spread: Double) -> Double {
        Int.random(in: 0..<10, using: &rng) == 0
            ? Self.wildDoubles.randomElement(using: &rng) ?? 0
            : near + Double.random(in: -spread...spread, using: &rng)
    }

    func randomPoint(_ rng: inout SplitMix64) -> GeoPoint {
        GeoPoint(latitude: wild(&rng, near: 57.6996, spread: 0.01), longitude: wild(&rng, near: 11.9527, spread: 0.02))
    }

    func randomZone(_ rng: inout SplitMix64, id: Int64) -> Zone {
        let shape: ZoneShape
        if Bool.random(using: &rng) {
            shape = .circle(center: randomPoint(&rng), radiusMeters: wild(&rng, near: 200, spread: 300))
        } else {
            let n = Int.random(in: 0...12, using: &rng)
            shape = .polygon((0..<n).map { _ in randomPoint(&rng) })
        }
        let ints = [Int.min, -1, 0, 1, 2, 60, Int.max]
        let tuning = ZoneTuning(
            exitBufferMeters: Bool.random(using: &rng) ? nil : wild(&rng, near: 20, spread: 30),
            maxAccuracyMeters: wild(&rng, near: 100, spread: 100),
            confirmFixes: ints.randomElement(using: &rng) ?? 2,
            confirmSeconds: ints.randomElement(using: &rng) ?? 60,
            windowStartMaxFixAgeSeconds: ints.randomElement(using: &rng) ?? 900,
            maxSegmentSeconds: ints.randomElement(using: &rng) ?? 900)
        return Zone(id: id, name: "z\(id)", shape: shape, tuning: tuning)
    }

    struct ChaoticCalendar: ZoneCalendar {
        func isActive(_ zoneId: Int64, atMicros: Int64) -> Bool { (atMicros / 7 + zoneId) % 3 != 0 }
        func activeSince(_ zoneId: Int64, atMicros: Int64) -> Int64? {
            atMicros % 2 == 0 ? nil : atMicros.saturatingSubtract(Int64(zoneId & 0xFFFF) * 1_000_000)
        }
    }

    @Test func tenThousandWildFixesNeverTrap() throws {
        var rng = SplitMix64(state: 2024)
        var zones = (0..<4).map { randomZone(&rng, id: Int64($0)) }
        // Always include good zones so evaluation paths beyond validation run.
        zones.append(home)
        zones.append(Zone(id: 99, name: "L", shape: polygon(around: Gbg.jarntorget, lShapeMeters),
                          tuning: ZoneTuning(confirmFixes: 1, confirmSeconds: 0)))
        var prepared = zones.map(PreparedZone.init)
        var device = DeviceGeofence()
        var clock: Int64 = 0
        let calendar = ChaoticCalendar()
        for i in 0..<10_000 {
            if i % 500 == 0 {
                zones[i / 500 % 4] = randomZone(&rng, id: Int64(i / 500 % 4))
                prepared = zones.map(PreparedZone.init)
            }
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: clock = [Int64.min, Int64.max, -1, 0].randomElement(using: &rng) ?? 0
            case 1: clock = clock.saturatingSubtract(Int64.random(in: 0...1_000_000_000, using: &rng))
            default: clock = clock.saturatingAdd(Int64.random(in: 0...30_000_000, using: &rng))
            }
            let accuracy: Double? = Int.random(in: 0..<4, using: &rng) == 0 ? nil : wild(&rng, near: 30, spread: 30)
            let f = Fix(atMicros: clock, point: randomPoint(&rng), accuracyMeters: accuracy)
            for action in device.apply(f, zones: prepared, calendar: calendar) {
                if case let .exit(_, _, distance, _) = action { #expect(distance.isFinite) }
            }
            _ = device.tick(nowMicros: clock.saturatingAdd(Int64.random(in: -5_000_000...90_000_000, using: &rng)),
                            zones: prepared, calendar: calendar)
            if i % 1000 == 0 {
                // Persisted state must always encode (no NaN in it).
                let data = try JSONEncoder().encode(device)
                #expect(try JSONDecoder().decode(DeviceGeofence.self, from: data) == device)
            }
        }
    }

    @Test func geometryHelpersNeverTrapOnRandomShapes() {
        var rng = SplitMix64(state: 7)
        for _ in 0..<2_000 {
            let zone = randomZone(&rng, id: 1)
            let a = randomPoint(&rng), b = randomPoint(&rng)
            _ = ZoneValidation.problems(zone)
            _ = GeoMath.contains(zone.shape, a)
            _ = GeoMath.signedDistanceToEdgeMeters(a, zone.shape)
            _ = GeoMath.segmentLeaves(zone.shape, from: a, to: b, bufferMeters: wild(&rng, near: 20, spread: 20))
            _ = GeoMath.haversineMeters(a, b)
        }
    }
}

@Suite struct PerformanceTests {
    /// Not a benchmark (shared CI machine, debug build): a generous guard against accidental O(n^2) per fix.
    @Test func threeZonesPerFixIsCheap() {
        let zones = [
            PreparedZone(home),
            PreparedZone(Zone(id: 2, name: "Block", shape: polygon(around: Gbg.careHome, uShapeMeters))),
            PreparedZone(Zone(id: 3, name: "Park", shape: .circle(center: Gbg.slottsskogen, radiusMeters: 400))),
        ]
        var device = DeviceGeofence()
        var rng = SplitMix64(state: 1)
        let n = 20_000
        let start = ContinuousClock.now
        for i in 0..<n {
            let p = offset(Gbg.jarntorget, east: Double.random(in: -300...300, using: &rng),
                           north: Double.random(in: -300...300, using: &rng))
            _ = device.apply(fix(Double(i) * 5, p, accuracy: 10), zones: zones, calendar: AlwaysActive())
        }
        let elapsed = ContinuousClock.now - start
        let perFix = Double(elapsed.components.seconds) * 1e6 / Double(n)
            + Double(elapsed.components.attoseconds) / 1e12 / Double(n)
        print("geofence: \(String(format: "%.2f", perFix)) µs per fix with 3 zones")
        #expect(perFix < 500)
    }
}
