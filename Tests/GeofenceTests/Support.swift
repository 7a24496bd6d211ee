import Foundation
@testable import Geofence

/// Real-looking places in Gothenburg.
enum Gbg {
    static let jarntorget = GeoPoint(latitude: 57.6996, longitude: 11.9527)
    static let slottsskogen = GeoPoint(latitude: 57.6855, longitude: 11.9430)
    /// A care home block near Linnéplatsen.
    static let careHome = GeoPoint(latitude: 57.6925, longitude: 11.9520)
}

let metersPerDegree = 6_371_008.8 * .pi / 180

/// Local offset in meters; exact enough (centimetres) at the few hundred meters used here.
func offset(_ p: GeoPoint, east: Double = 0, north: Double = 0) -> GeoPoint {
    GeoPoint(
        latitude: p.latitude + north / metersPerDegree,
        longitude: p.longitude + east / (metersPerDegree * cos(p.latitude * .pi / 180)))
}

func polygon(around origin: GeoPoint, _ meters: [(Double, Double)]) -> ZoneShape {
    .polygon(meters.map { offset(origin, east: $0.0, north: $0.1) })
}

/// An L-shaped block, 120 x 120 m with the north-east 80 x 80 m square cut out (the notch).
let lShapeMeters: [(Double, Double)] = [(0, 0), (120, 0), (120, 40), (40, 40), (40, 120), (0, 120)]
/// A U-shaped block: two wings around a 60 x 80 m courtyard open to the north.
let uShapeMeters: [(Double, Double)] = [(0, 0), (150, 0), (150, 120), (105, 120), (105, 40), (45, 40), (45, 120), (0, 120)]

func seconds(_ s: Double) -> Int64 { Int64(s * 1_000_000) }

func fix(_ t: Double, _ p: GeoPoint, accuracy: Double? = nil) -> Fix {
    Fix(atMicros: seconds(t), point: p, accuracyMeters: accuracy)
}

/// Zones in force only inside the given windows.
struct WindowCalendar: ZoneCalendar {
    var windows: [Range<Int64>]
    func isActive(_ zoneId: Int64, atMicros: Int64) -> Bool { windows.contains { $0.contains(atMicros) } }
    func activeSince(_ zoneId: Int64, atMicros: Int64) -> Int64? {
        windows.first { $0.contains(atMicros) }?.lowerBound
    }
}

/// Deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension GeofenceAction {
    var isExit: Bool { if case .exit = self { true } else { false } }
    var isReturn: Bool { if case .returned = self { true } else { false } }
    var atMicros: Int64 {
        switch self {
        case let .exit(_, _, _, at): at
        case let .returned(_, _, at): at
        }
    }
}
