/// Open data over an `InMemoryTelemetryRepository` (the tables the PostgreSQL queries read): only class 1 values,
/// only registered devices that are not decommissioned, scoped to `tenants`.
public final class InMemoryOpenDataRepository: OpenDataRepository {
    let telemetry: InMemoryTelemetryRepository

    public init(over telemetry: InMemoryTelemetryRepository) { self.telemetry = telemetry }

    /// The open observations of devices that are registered and not decommissioned, with their tenants.
    private func open() -> (values: [Observation], tenants: [String: String]) {
        telemetry.state.withLock { state in
            let tenants = state.devices.filter { !$0.value.decommissioned }.mapValues(\.tenant)
            return (state.observations.filter { $0.confidentiality == 1 && tenants[$0.deviceID] != nil }, tenants)
        }
    }

    public func devices(conditions: [OpenValueCondition], tenants: [String]?, offset: Int, limit: Int) async throws -> [String] {
        let (values, registered) = open()
        let ids = Set(values.map(\.deviceID)).filter { id in
            guard tenants.map({ $0.contains(registered[id] ?? "") }) ?? true else { return false }
            let latest = InMemoryTelemetryRepository.newestPerQuantity(values.filter { $0.deviceID == id })
            return conditions.allSatisfy { condition in latest.contains { Self.matches($0, condition) } }
        }
        return Array(ids.sorted().dropFirst(offset).prefix(limit))
    }

    public func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue] {
        let values = open().values
        return deviceIDs.sorted().flatMap { id in
            InMemoryTelemetryRepository.newestPerQuantity(values.filter { $0.deviceID == id })
                .filter { quantities?.contains($0.quantity) ?? true }.map(Self.openValue)
        }
    }

    public func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int) async throws -> [OpenValue] {
        let values = open().values.filter { value in
            value.deviceID == deviceID && (quantities?.contains(value.quantity) ?? true)
                && (fromMicros.map { value.observedAtMicros >= $0 } ?? true) && (toMicros.map { value.observedAtMicros < $0 } ?? true)
        }
        return Dictionary(grouping: values, by: \.quantity).sorted { $0.key < $1.key }.flatMap { group in
            group.value.sorted { $0.observedAtMicros > $1.observedAtMicros }.prefix(lastN).map(Self.openValue)
        }
    }

    public func tenant(of deviceID: String) async throws -> String?? {
        open().tenants[deviceID].map { .some($0) }
    }

    private static func openValue(_ value: Observation) -> OpenValue {
        var open = OpenValue(deviceID: value.deviceID, quantity: value.quantity, unit: value.unit,
                             observedAtMicros: value.observedAtMicros)
        switch value.value {
        case .number(let number): open.number = number
        case .string(let text): open.text = text
        case .boolean(let flag): open.boolean = flag
        case .data, .none: break
        }
        return open
    }

    /// As the SQL compares: numbers numerically, text by (in)equality; a value of the other kind never matches.
    private static func matches(_ value: Observation, _ condition: OpenValueCondition) -> Bool {
        guard value.quantity == condition.quantity else { return false }
        if let bound = condition.number {
            guard case .number(let number) = value.value else { return false }
            switch condition.op {
            case .equal: return number == bound
            case .notEqual: return number != bound
            case .greater: return number > bound
            case .greaterOrEqual: return number >= bound
            case .less: return number < bound
            case .lessOrEqual: return number <= bound
            }
        }
        guard case .string(let text) = value.value else { return false }
        return condition.op == .equal ? text == condition.text : text != condition.text
    }
}
