import Foundation

/// Conversions between the units vendors send and the catalogue's canonical units (SenML / UCUM symbols).
///
/// Every unit belongs to one dimension and is defined against that dimension's base unit as
/// `base = (value + offset) * numerator / denominator` with small integer factors, so that scale
/// conversions are a multiply and a divide by exact integers. A converted value is rounded to 15
/// significant decimal digits (all a `Double` holds reliably), which removes binary artefacts:
/// 3712 mV is exactly the double 3.712 V, 68 [degF] is exactly 20 Cel, 293.15 K is exactly 20 Cel.
public enum UnitConversion {
    /// `value` expressed in `to`, or nil when there is no known conversion from `from` to `to`
    /// (an unknown unit, or units of different dimensions). Equal units are the identity, known or not.
    /// The result can be infinite when the value overflows; callers check `isFinite`.
    public static func convert(_ value: Double, from: String, to: String) -> Double? {
        plan(from: from, to: to)?.apply(value)
    }

    /// True when `convert(_:from:to:)` has a conversion for this pair.
    public static func canConvert(from: String, to: String) -> Bool {
        plan(from: from, to: to) != nil
    }

    /// True when `unit` is a symbol this table knows.
    public static func isKnown(_ unit: String) -> Bool {
        vendorUnitTable[unit] != nil
    }

    /// Every known unit symbol, sorted.
    public static var knownUnits: [String] {
        vendorUnitTable.keys.sorted()
    }

    /// The dimension a known unit measures ("ratio", "voltage", …), for messages.
    public static func dimension(of unit: String) -> String? {
        vendorUnitTable[unit]?.dimension.rawValue
    }

    /// A precomputed conversion, for callers that convert many values between the same units.
    static func plan(from: String, to: String) -> VendorUnitConversionPlan? {
        if from == to { return .identity }
        guard let source = vendorUnitTable[from], let target = vendorUnitTable[to],
              source.dimension == target.dimension else {
            return nil
        }
        if source.offset == 0, target.offset == 0 {
            // value * (sn / sd) / (tn / td) = value * (sn * td) / (sd * tn), reduced.
            var numerator = source.numerator * target.denominator
            var denominator = source.denominator * target.numerator
            let divisor = vendorGCD(numerator, denominator)
            numerator /= divisor
            denominator /= divisor
            if numerator == denominator { return .identity }
            return .scale(numerator: Double(numerator), denominator: Double(denominator))
        }
        return .affine(source: source, target: target)
    }
}

/// How one unit converts to another; `apply` never traps.
enum VendorUnitConversionPlan: Sendable, Equatable {
    case identity
    case scale(numerator: Double, denominator: Double)
    case affine(source: VendorUnit, target: VendorUnit)

    func apply(_ value: Double) -> Double {
        switch self {
        case .identity:
            return value
        case .scale(let numerator, let denominator):
            return vendorRoundToSignificantDigits(vendorScale(value, numerator, denominator))
        case .affine(let source, let target):
            let base = vendorScale(value + source.offset, source.numerator, source.denominator)
            let result = vendorScale(base, target.denominator, target.numerator) - target.offset
            return vendorRoundToSignificantDigits(result)
        }
    }
}

/// A unit relative to its dimension's base unit: `base = (value + offset) * numerator / denominator`.
struct VendorUnit: Sendable, Equatable {
    enum Dimension: String, Sendable {
        case ratio, voltage, temperature, speed, duration, length, powerLevel = "power level", latitude, longitude
    }

    var dimension: Dimension
    var numerator: Int = 1
    var denominator: Int = 1
    var offset: Double = 0
}

/// Known units. Base units: `/`, `V`, `Cel`, `m/s`, `s`, `m`, `dBm`, `lat`, `lon`.
let vendorUnitTable: [String: VendorUnit] = [
    // Ratios: a fraction 0..1, percent, SenML's relative humidity and remaining battery level.
    "/": VendorUnit(dimension: .ratio),
    "%": VendorUnit(dimension: .ratio, denominator: 100),
    "%RH": VendorUnit(dimension: .ratio, denominator: 100),
    "%EL": VendorUnit(dimension: .ratio, denominator: 100),
    // Electric potential.
    "V": VendorUnit(dimension: .voltage),
    "mV": VendorUnit(dimension: .voltage, denominator: 1000),
    // Temperature.
    "Cel": VendorUnit(dimension: .temperature),
    "K": VendorUnit(dimension: .temperature, offset: -273.15),
    "[degF]": VendorUnit(dimension: .temperature, numerator: 5, denominator: 9, offset: -32),
    // Speed.
    "m/s": VendorUnit(dimension: .speed),
    "km/h": VendorUnit(dimension: .speed, numerator: 5, denominator: 18),
    "[kn_i]": VendorUnit(dimension: .speed, numerator: 463, denominator: 900),  // 1852 m / 3600 s
    // Duration.
    "s": VendorUnit(dimension: .duration),
    "ms": VendorUnit(dimension: .duration, denominator: 1000),
    "min": VendorUnit(dimension: .duration, numerator: 60),
    "h": VendorUnit(dimension: .duration, numerator: 3600),
    "d": VendorUnit(dimension: .duration, numerator: 86400),
    // Length (position accuracy).
    "m": VendorUnit(dimension: .length),
    "km": VendorUnit(dimension: .length, numerator: 1000),
    "cm": VendorUnit(dimension: .length, denominator: 100),
    "mm": VendorUnit(dimension: .length, denominator: 1000),
    "[ft_i]": VendorUnit(dimension: .length, numerator: 381, denominator: 1250),  // 0.3048 m
    // Signal strength: dBW = dBm - 30.
    "dBm": VendorUnit(dimension: .powerLevel),
    "dBW": VendorUnit(dimension: .powerLevel, offset: 30),
    // Positions (degrees, WGS 84); only identity.
    "lat": VendorUnit(dimension: .latitude),
    "lon": VendorUnit(dimension: .longitude),
]

private func vendorGCD(_ a: Int, _ b: Int) -> Int {
    var (x, y) = (abs(a), abs(b))
    while y != 0 { (x, y) = (y, x % y) }
    return max(x, 1)
}

/// `value * numerator / denominator`, dividing first when multiplying first would overflow.
private func vendorScale(_ value: Double, _ numerator: Int, _ denominator: Int) -> Double {
    vendorScale(value, Double(numerator), Double(denominator))
}

private func vendorScale(_ value: Double, _ numerator: Double, _ denominator: Double) -> Double {
    if numerator == 1 { return value / denominator }
    if denominator == 1 { return value * numerator }
    let product = value * numerator
    return product.isFinite ? product / denominator : value / denominator * numerator
}

/// Powers of ten that are exact doubles, 10^0 ... 10^22.
private let vendorExactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

/// Rounds to 15 significant decimal digits: `round(x * 10^k) / 10^k` with an exact power of ten and an
/// integer below 10^15 < 2^53, so the division is correctly rounded to the nearest double of the decimal.
/// Values outside 1e-7 ... 1e15 in magnitude (and zero, infinities) are returned unchanged.
func vendorRoundToSignificantDigits(_ value: Double) -> Double {
    let magnitude = abs(value)
    guard magnitude.isFinite, magnitude >= 1e-7, magnitude < 1e15 else { return value }
    let digitsBeforePoint = Int(log10(magnitude).rounded(.down)) + 1  // 1 for 1..<10, 0 for 0.1..<1
    let decimals = 15 - digitsBeforePoint
    guard decimals >= 0, decimals <= 22 else { return value }
    let power = vendorExactPowersOfTen[decimals]
    let scaled = (value * power).rounded(.toNearestOrEven)
    guard abs(scaled) < 9_007_199_254_740_992 else { return value }
    return scaled / power
}
