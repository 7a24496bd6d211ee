// SenML JSON (RFC 8428) → catalogue values and events.
//
// The resolved record name is a quantity id or an event id. A name that is both (`heartbeat`, `tamper`,
// `alarm_button`, `smoke`) is the quantity when the device type produces that quantity, otherwise the event; on
// the `events` channel (`preferEvents`) it is the event when the type produces that event. Events: `vb: true`
// raises it, `vb: false` raises nothing, `vs` raises it with attribute "value". Numbers are converted to the
// canonical unit; no unit means canonical. Per-record rejections (path `records[i]`, the original index): unknown
// name, quantity or event the device type does not produce, wrong value kind, enum value not allowed, number out
// of range, unit not convertible, and the records the SenML resolver itself rejected. Latitude and longitude with
// the same time also give a `position`.

import Models

struct SenMLAdapter: PayloadAdapter {
    static let format = PayloadFormat.senml

    func normalize(_ payload: [UInt8], context: AdapterContext) throws(Rejection) -> NormalizedPayload {
        let pack: SenMLPack
        do {
            pack = try SenML.resolve(payload, now: context.receivedAt)
        } catch {
            throw Rejection(path: error.index.map { "records[\($0)]" } ?? "", reason: error.description)
        }
        var result = NormalizedPayload()
        result.timesRelativeToArrival = pack.records.contains(where: \.timeIsRelative) || !pack.rejected.isEmpty
        var rejections: [(Int, Rejection)] = pack.rejected.map {
            ($0.index, Rejection(path: "records[\($0.index)]", reason: $0.description))
        }
        let aliases = context.deviceType.type.nameAliases
        for record in pack.records {
            let path = "records[\(record.index)]"
            let name = Self.catalogueName(record, aliases: aliases, deviceID: context.deviceID)
            do {
                switch try outcome(of: record, name: name, path: path, context: context) {
                case .value(let value): result.values.append(value)
                case .event(let event): result.events.append(event)
                case .nothing: break
                }
            } catch {
                rejections.append((record.index, Rejection(path: path, reason: error.reason)))
            }
        }
        // Rejections in pack order (the records themselves come in time order from the resolver).
        result.rejections = rejections.enumerated()
            .sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }
            .map(\.element.1)
        context.checks.foldPositions(&result, deviceType: context.deviceType)
        return result
    }

    private enum RecordOutcome {
        case value(NormalizedValue)
        case event(NormalizedEvent)
        case nothing
    }

    /// The catalogue name of a SenML record. RFC 8428 puts the device's identity in the base name
    /// (`"bn":"urn:dev:ow:10e2073a01080063:"` + `"n":"temperature"`): a base name that ends in `:` or `/`, or that
    /// is the device's own id, names the device, not the measurement, and is taken off. Any other base name is
    /// part of the name (`"bn":"temp"`, `"n":"erature"` is `temperature`). Then the device type's aliases apply.
    static func catalogueName(_ record: SenMLRecord, aliases: [String: String], deviceID: String?) -> String {
        var name = record.name
        let base = record.baseName
        if !base.isEmpty, name.hasPrefix(base), name.count > base.count,
           base.hasSuffix(":") || base.hasSuffix("/") || base == deviceID {
            name = String(name.dropFirst(base.count))
        }
        return aliases[name] ?? name
    }

    private func outcome(
        of record: SenMLRecord, name: String, path: String, context: AdapterContext
    ) throws(CatalogueViolation) -> RecordOutcome {
        let checks = context.checks
        let deviceType = context.deviceType
        let quantity = checks.catalogue.quantity(name)
        let event = checks.catalogue.event(name)
        // A name that is both a quantity and an event is the quantity when the type produces it, unless the
        // message came on the events channel and the type produces the event.
        let asEvent = context.preferEvents && event != nil && deviceType.events.contains(name)
        if let quantity, !asEvent, deviceType.quantities.contains(name) || event == nil {
            guard deviceType.quantities.contains(name) else {
                throw CatalogueViolation(checks.notProduced("quantity", name, by: deviceType))
            }
            if case .position = quantity.type {
                throw CatalogueViolation(
                    "position cannot be sent as one SenML record; send latitude and longitude records with the same time")
            }
            let scalar: NormalizedScalar
            switch record.value {
            case .number(let number)?:
                guard case .number = quantity.type else { throw checks.wrongKind(quantity, got: .number(number)) }
                scalar = .number(try checks.canonical(number, unit: record.unit, for: quantity))
            case .string(let string)?:
                scalar = .string(string)
            case .bool(let bool)?:
                scalar = .boolean(bool)
            case .data?:
                throw checks.wrongKind(quantity, got: "a data value (vd)")
            case nil:
                throw CatalogueViolation("record for \(name) has no value (a sum alone is not a value)")
            }
            if let unit = record.unit, quantity.type != .number {
                throw checks.unitWithoutQuantityUnit(unit, for: quantity)
            }
            return .value(try checks.value(scalar, of: quantity, observedAt: record.time, sourcePath: path))
        }
        if let event {
            guard deviceType.events.contains(name) else {
                throw CatalogueViolation(checks.notProduced("event", name, by: deviceType))
            }
            var attributes: [String: String] = [:]
            switch record.value {
            case .bool(true)?: break
            case .bool(false)?: return .nothing
            case .string(let string)?: attributes["value"] = string
            case .number(let number)?:
                throw CatalogueViolation("event \"\(name)\" needs vb true/false or a vs value, got \(checks.describe(.number(number)))")
            case .data?:
                throw CatalogueViolation("event \"\(name)\" needs vb true/false or a vs value, got a data value (vd)")
            case nil:
                throw CatalogueViolation("event \"\(name)\" needs vb true/false or a vs value, got none")
            }
            return .event(NormalizedEvent(
                event: name, observedAt: record.time, classification: event.classification,
                attributes: attributes, sourcePath: path))
        }
        let resolved = name == record.name ? "" : " (resolved from \(quotedForSenMLMessage(record.name)))"
        throw CatalogueViolation("\(quotedForSenMLMessage(name))\(resolved) is neither a quantity nor an event of the catalogue")
    }
}
