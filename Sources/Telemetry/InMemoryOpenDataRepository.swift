import Synchronization

/// Open data over an `InMemoryTelemetryRepository` (the tables the PostgreSQL queries read): only class 1 values,
/// only registered devices that are not decommissioned, scoped to `tenants`; and the external entities written
/// through it, as `PostgresOpenDataRepository` and `PostgresExternalEntities` keep them.
public final class InMemoryOpenDataRepository: OpenDataRepository, OpenDataWriter {
    let telemetry: InMemoryTelemetryRepository
    let deviceType = OpenEntity.deviceType
    private let external = Mutex<[String: OpenEntity]>([:])  // by device id, live ones only

    public init(over telemetry: InMemoryTelemetryRepository) { self.telemetry = telemetry }

    /// The open observations of devices that are registered and not decommissioned, with their tenants.
    private func open() -> (values: [Observation], tenants: [String: String]) {
        telemetry.state.withLock { state in
            let tenants = state.devices.filter { !$0.value.decommissioned }.mapValues(\.tenant)
            return (state.observations.filter { $0.confidentiality == 1 && tenants[$0.deviceID] != nil }, tenants)
        }
    }

    private func allEntities() -> (entities: [OpenEntity], latest: [String: [OpenValue]]) {
        let (values, tenants) = open()
        let externals = external.withLock { $0 }
        var latest: [String: [OpenValue]] = [:]
        for (device, own) in Dictionary(grouping: values, by: \.deviceID) {
            latest[device] = InMemoryTelemetryRepository.newestPerQuantity(own).map(Self.openValue)
        }
        var entities = Array(externals.values)
        for (device, tenant) in tenants where externals[device] == nil && latest[device] != nil {
            entities.append(OpenEntity(deviceID: device, entityID: OpenEntity.deviceEntityID(device), entityType: deviceType, tenant: tenant,
                                       location: nil, createdAtMicros: 0, modifiedAtMicros: 0))
        }
        return (entities.sorted { $0.entityID < $1.entityID }, latest)
    }

    private func matching(_ query: OpenEntityQuery) -> [OpenEntity] {
        let (entities, latest) = allEntities()
        return entities.filter { entity in
            guard query.tenants.map({ $0.contains(entity.tenant) }) ?? true,
                  query.types.map({ $0.contains(entity.entityType) }) ?? true,
                  query.ids.map({ $0.contains(entity.entityID) }) ?? true,
                  query.deviceIDs.map({ $0.contains(entity.deviceID) }) ?? true else { return false }
            if let geo = query.geo {
                guard let location = entity.location, geo.matches(location) else { return false }
            }
            let values = latest[entity.deviceID] ?? []
            return query.conditions.allSatisfy { condition in values.contains { condition.matches($0) } }
        }
    }

    public func entities(_ query: OpenEntityQuery, offset: Int, limit: Int) async throws -> [OpenEntity] {
        Array(matching(query).dropFirst(offset).prefix(limit))
    }

    public func count(_ query: OpenEntityQuery) async throws -> Int { matching(query).count }

    public func entity(id: String, tenants: [String]?) async throws -> OpenEntity? {
        matching(OpenEntityQuery(ids: [id], tenants: tenants)).first
    }

    public func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue] {
        let values = open().values
        return deviceIDs.sorted().flatMap { id in
            InMemoryTelemetryRepository.newestPerQuantity(values.filter { $0.deviceID == id })
                .filter { quantities?.contains($0.quantity) ?? true }.map(Self.openValue)
        }
    }

    public func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int,
                        newestFirst: Bool) async throws -> [OpenValue] {
        let values = inRange(deviceID, quantities, fromMicros, toMicros)
        return Dictionary(grouping: values, by: \.quantity).sorted { $0.key < $1.key }.flatMap { group in
            group.value.sorted { newestFirst ? $0.observedAtMicros > $1.observedAtMicros : $0.observedAtMicros < $1.observedAtMicros }
                .prefix(lastN).map(Self.openValue)
        }
    }

    public func aggregate(deviceID: String, quantities: [String]?, fromMicros: Int64, toMicros: Int64,
                          periodMicros: Int64) async throws -> [OpenAggregate] {
        let values = inRange(deviceID, quantities, fromMicros, toMicros)
        var groups: [String: [Int64: [Observation]]] = [:]
        for value in values {
            let start = fromMicros + (value.observedAtMicros - fromMicros) / periodMicros * periodMicros
            groups[value.quantity, default: [:]][start, default: []].append(value)
        }
        return groups.sorted { $0.key < $1.key }.flatMap { quantity, periods in
            periods.sorted { $0.key < $1.key }.map { start, members in
                let numbers = members.compactMap { if case .number(let n) = $0.value { n } else { nil } }
                return OpenAggregate(quantity: quantity, periodStartMicros: start, periodEndMicros: min(start + periodMicros, toMicros),
                                     count: members.count, sum: numbers.isEmpty ? nil : numbers.reduce(0, +),
                                     average: numbers.isEmpty ? nil : numbers.reduce(0, +) / Double(numbers.count),
                                     minimum: numbers.min(), maximum: numbers.max())
            }
        }
    }

    private func inRange(_ deviceID: String, _ quantities: [String]?, _ fromMicros: Int64?, _ toMicros: Int64?) -> [Observation] {
        open().values.filter { value in
            value.deviceID == deviceID && (quantities?.contains(value.quantity) ?? true)
                && (fromMicros.map { value.observedAtMicros >= $0 } ?? true) && (toMicros.map { value.observedAtMicros < $0 } ?? true)
        }
    }

    public func typesAndAttributes(tenants: [String]?) async throws -> (types: [String: Int], attributes: [String: Set<String>]) {
        let (entities, latest) = allEntities()
        var types: [String: Int] = [:]
        var attributes: [String: Set<String>] = [:]
        for entity in entities where tenants.map({ $0.contains(entity.tenant) }) ?? true {
            types[entity.entityType, default: 0] += 1
            for value in latest[entity.deviceID] ?? [] { attributes[value.quantity, default: []].insert(entity.entityType) }
        }
        return (types, attributes)
    }

    // MARK: - Writes

    public func create(_ write: OpenEntityWrite, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome {
        let deviceID = "ext-\(UInt64.random(in: 0...UInt64.max))"
        let outcome: OpenWriteOutcome = external.withLock { entities in
            if entities.values.contains(where: { $0.entityID == write.entityID && $0.tenant == tenant }) { return .alreadyExists }
            entities[deviceID] = OpenEntity(deviceID: deviceID, entityID: write.entityID, entityType: write.entityType ?? "",
                                            tenant: tenant, location: write.location, createdAtMicros: atMicros, modifiedAtMicros: atMicros)
            return .created(deviceID: deviceID)
        }
        if case .created = outcome {
            telemetry.registered(deviceID, tenant: tenant)
            store(write.values, deviceID: deviceID, atMicros: atMicros)
        }
        return outcome
    }

    public func update(_ write: OpenEntityWrite, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome {
        let found: String? = external.withLock { entities in
            guard var entity = entities.values.first(where: { $0.entityID == write.entityID && $0.tenant == tenant }) else { return nil }
            entity.modifiedAtMicros = atMicros
            if let location = write.location { entity.location = location }
            entities[entity.deviceID] = entity
            return entity.deviceID
        }
        guard let deviceID = found else { return .notFound }
        store(write.values, deviceID: deviceID, atMicros: atMicros)
        return .updated(deviceID: deviceID)
    }

    public func delete(entityID: String, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome {
        let found: String? = external.withLock { entities in
            guard let entity = entities.values.first(where: { $0.entityID == entityID && $0.tenant == tenant }) else { return nil }
            entities[entity.deviceID] = nil
            return entity.deviceID
        }
        guard let deviceID = found else { return .notFound }
        telemetry.state.withLock { $0.devices[deviceID]?.decommissioned = true }
        return .updated(deviceID: deviceID)
    }

    private func store(_ values: [OpenValue], deviceID: String, atMicros: Int64) {
        telemetry.store(values.enumerated().map { index, value in
            let stored: ObservationValue = value.number.map(ObservationValue.number) ?? value.text.map(ObservationValue.string)
                ?? value.boolean.map(ObservationValue.boolean) ?? .none
            return Observation(deviceID: deviceID, quantity: value.quantity, value: stored, sum: nil, unit: value.unit,
                               observedAtMicros: value.observedAtMicros, receivedAtMicros: atMicros,
                               messageKey: Array("\(atMicros)".utf8), recordIndex: index, confidentiality: 1)
        })
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
}
