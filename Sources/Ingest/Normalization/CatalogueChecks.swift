// The catalogue checks every payload adapter applies, one way each: a value against its quantity (kind, allowed
// values, range, unit), the texts of the per-part rejections, event attributes by classification, and position
// folding. Never traps on any input: all arithmetic on payload data is on Doubles, checked for finiteness.

import Models

/// Why one value or event of a payload does not fit the catalogue: the `reason` of its per-part `Rejection`.
struct CatalogueViolation: Error {
    var reason: String

    init(_ reason: String) { self.reason = reason }
}

/// The catalogue and the checks on it; shared by all adapters (a class, so an adapter's context holds one reference).
final class CatalogueChecks: Sendable {
    let catalogue: Catalogue

    init(catalogue: Catalogue) {
        self.catalogue = catalogue
    }

    // MARK: Values

    /// `number`, given in `unit` (nil: the canonical unit), in the canonical unit of `quantity` (a number quantity).
    func canonical(_ number: Double, unit: String?, for quantity: Quantity) throws(CatalogueViolation) -> Double {
        guard let unit, unit != quantity.unit else { return number }
        guard let canonical = quantity.unit else { throw unitWithoutQuantityUnit(unit, for: quantity) }
        guard let converted = UnitConversion.convert(number, from: unit, to: canonical) else {
            throw CatalogueViolation("unit \"\(unit)\" cannot be converted to \"\(canonical)\" for \(quantity.id)")
        }
        return converted
    }

    /// A unit given for a quantity that has none.
    func unitWithoutQuantityUnit(_ unit: String, for quantity: Quantity) -> CatalogueViolation {
        CatalogueViolation("unit \"\(unit)\" given for \(quantity.id), which has no unit")
    }

    /// Checks a value against its quantity's kind, allowed values and range.
    func check(_ value: NormalizedScalar, for quantity: Quantity) throws(CatalogueViolation) {
        switch (quantity.type, value) {
        case (.number, .number(let number)):
            guard number.isFinite else {
                throw CatalogueViolation("\(quantity.id) \(Self.number(number)) is not a finite number")
            }
            if let range = quantity.range, !range.contains(number) {
                let unit = quantity.unit.map { " \($0)" } ?? ""
                throw CatalogueViolation("\(quantity.id) \(Self.number(number))\(unit) is outside \(Self.range(range))")
            }
        case (.string, .string), (.boolean, .boolean):
            return
        case (.enumeration(let allowed), .string(let string)):
            guard allowed.contains(string) else {
                throw CatalogueViolation(
                    "\(quantity.id) \"\(string)\" is not one of the allowed values: \(allowed.joined(separator: ", "))")
            }
        case (.position, .position(let latitude, let longitude, let accuracy)):
            guard latitude.isFinite, (-90...90).contains(latitude) else {
                throw CatalogueViolation("position latitude \(Self.number(latitude)) is outside -90...90")
            }
            guard longitude.isFinite, (-180...180).contains(longitude) else {
                throw CatalogueViolation("position longitude \(Self.number(longitude)) is outside -180...180")
            }
            if let accuracy, !(accuracy.isFinite && accuracy >= 0) {
                throw CatalogueViolation("position accuracy \(Self.number(accuracy)) m is not a non-negative number")
            }
        default:
            throw wrongKind(quantity, got: value)
        }
    }

    /// `value` of `quantity` as a catalogue value, when it passes `check`.
    func value(
        _ value: NormalizedScalar, of quantity: Quantity, observedAt: Double, sourcePath: String
    ) throws(CatalogueViolation) -> NormalizedValue {
        try check(value, for: quantity)
        return NormalizedValue(
            quantity: quantity.id, value: value, unit: quantity.unit, classification: quantity.classification,
            observedAt: observedAt, sourcePath: sourcePath)
    }

    // MARK: Rejection texts

    /// A value of the wrong kind for its quantity.
    func wrongKind(_ quantity: Quantity, got value: NormalizedScalar) -> CatalogueViolation {
        wrongKind(quantity, got: describe(value))
    }

    /// A value of the wrong kind for its quantity; `got` describes it (`a data value (vd)`).
    func wrongKind(_ quantity: Quantity, got: String) -> CatalogueViolation {
        let expected: String = switch quantity.type {
        case .number: "a number"
        case .string: "a string"
        case .boolean: "a boolean"
        case .enumeration(let values): "one of the strings \(values.joined(separator: ", "))"
        case .position: "a position"
        }
        return CatalogueViolation("\(quantity.id) expects \(expected), got \(got)")
    }

    /// `a number 3.5`, `a string "x"`, `a boolean true`, `a position`.
    func describe(_ value: NormalizedScalar) -> String {
        switch value {
        case .number(let n): "a number \(Self.number(n))"
        case .string(let s): "a string \"\(s)\""
        case .boolean(let b): "a boolean \(b)"
        case .position: "a position"
        }
    }

    /// A quantity or event (`kind`) that the device type does not produce.
    func notProduced(_ kind: String, _ id: String, by deviceType: DeviceTypeInfo) -> String {
        "\(kind) \"\(id)\" is not produced by device type \"\(deviceType.id)\""
    }

    // MARK: Event attributes

    /// Attributes that are values of a quantity of their own (`quantities`: attribute → quantity id; location
    /// text, position) carry that quantity's class. They travel with an event only when the event is classed at
    /// least as high, so that a class-2 event (a low battery) never shows a class-3 location to a class-2 reader;
    /// they are stored as observations of their own either way. Other attributes always travel.
    func attributes(
        _ attributes: [String: String], quantities: [String: String], for classification: Classification
    ) -> [String: String] {
        attributes.filter { key, _ in
            guard let id = quantities[key] else { return true }
            let attributeClass = catalogue.quantity(id)?.classification.confidentiality.rawValue ?? Int.max
            return attributeClass <= classification.confidentiality.rawValue
        }
    }

    // MARK: Position folding

    /// Adds one `position` per time that has both an accepted `latitude` and `longitude` (and takes the
    /// `position_accuracy` of that time, if any), when the device type produces `position`. The parts stay.
    func foldPositions(_ result: inout NormalizedPayload, deviceType: DeviceTypeInfo) {
        guard deviceType.quantities.contains("position"), let quantity = catalogue.quantity("position") else { return }
        struct Parts { var lat: NormalizedValue?; var lon: NormalizedValue?; var acc: NormalizedValue?; var ambiguous = false }
        var byTime: [Double: Parts] = [:]
        var order: [Double] = []
        for value in result.values {
            guard case .number = value.value,
                  ["latitude", "longitude", "position_accuracy"].contains(value.quantity) else { continue }
            if byTime[value.observedAt] == nil { order.append(value.observedAt) }
            var parts = byTime[value.observedAt] ?? Parts()
            switch value.quantity {
            case "latitude": parts.ambiguous = parts.ambiguous || parts.lat != nil; parts.lat = value
            case "longitude": parts.ambiguous = parts.ambiguous || parts.lon != nil; parts.lon = value
            default: parts.ambiguous = parts.ambiguous || parts.acc != nil; parts.acc = value
            }
            byTime[value.observedAt] = parts
        }
        for time in order {
            guard let parts = byTime[time], !parts.ambiguous,
                  let lat = parts.lat, let lon = parts.lon,
                  case .number(let latitude) = lat.value, case .number(let longitude) = lon.value else { continue }
            var accuracy: Double?
            var path = "\(lat.sourcePath),\(lon.sourcePath)"
            if let acc = parts.acc, case .number(let a) = acc.value {
                accuracy = a
                path += ",\(acc.sourcePath)"
            }
            result.values.append(NormalizedValue(
                quantity: "position", value: .position(latitude: latitude, longitude: longitude, accuracy: accuracy),
                unit: nil, classification: quantity.classification, observedAt: time, sourcePath: path))
        }
    }

    // MARK: Formatting

    /// `140`, `3.5`, `-0.25`: integral values without ".0".
    static func number(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return "\(value)"
    }

    /// `0...100`, `0...` or `...100`.
    static func range(_ range: ValueRange) -> String {
        (range.min.map(number) ?? "") + "..." + (range.max.map(number) ?? "")
    }
}
