import Logging

/// The registry's use cases, one place for each, shared by the API and `cip-gateway devices`: registering one
/// device or a CSV file, changing metadata, and moving a device through its lifecycle with the broker told at
/// once. Field rules, the lifecycle state machine and broker enforcement live here; the callers translate their
/// input to these calls and `RegistryError` to their answers (HTTP problems, exit codes), and decide the scope
/// (which tenants a client may touch).
public struct DeviceRegistry: Sendable {
    public let repository: any DeviceRepository
    /// Enforces lifecycle changes at the broker (nil where no broker is administered; the broker reconciliation
    /// catches up with any change the broker did not take at once).
    public let broker: (any BrokerAccess)?
    /// Device types of the catalogue: a registration names one of them.
    public let knownTypes: Set<String>
    /// How long a claim code stays usable.
    public let claimValiditySeconds: Double
    let logger: Logger

    public init(repository: any DeviceRepository, knownTypes: Set<String>, claimValiditySeconds: Double,
                broker: (any BrokerAccess)? = nil, logger: Logger = Logger(label: "cip.registry")) {
        self.repository = repository
        self.knownTypes = knownTypes
        self.claimValiditySeconds = claimValiditySeconds
        self.broker = broker
        self.logger = logger
    }

    /// What a registration of many rows did: every row is either registered or rejected with its line.
    public struct ImportOutcome: Sendable {
        public var atomic: Bool
        public var registered: [RegisteredDevice]
        public var rejected: [ImportRejection]
    }

    // MARK: Registration

    /// Registers one device; its one-time claim code comes back with it.
    /// Throws `.invalid` for a field that breaks the rules, `.conflict` when the id or serial is taken.
    public func register(_ registration: DeviceImportRow, actor: String,
                         inScope: (String) -> Bool = { _ in true }) async throws -> RegisteredDevice {
        if let tag = registration.tags.first(where: { $0.contains(";") }) {
            throw RegistryError.invalid("tag \"\(tag)\" contains ';', which separates tags")
        }
        guard inScope(registration.tenant) else { throw RegistryError.outOfScope(tenant: registration.tenant) }
        let values: [DeviceCSVColumn: String] = [
            .deviceId: registration.deviceId, .serialNumber: registration.serialNumber, .type: registration.type,
            .vendor: registration.vendor ?? "", .model: registration.model ?? "",
            .firmwareVersion: registration.firmwareVersion ?? "", .tenant: registration.tenant,
            .placement: registration.placement ?? "", .careRecipientRef: registration.careRecipientRef ?? "",
            .tags: registration.tags.joined(separator: ";"),
        ]
        let row: DeviceImportRow
        switch DeviceCSV.validate(values, knownTypes: knownTypes) {
        case .success(let valid): row = valid
        case .failure(let rejection): throw RegistryError.invalid(rejection.reason)
        }
        let result = try await repository.register([ImportedRow(line: 1, row: row)], actor: actor,
                                                   claimValiditySeconds: claimValiditySeconds)
        if let rejection = result.rejected.first { throw RegistryError.conflict(rejection.reason) }
        guard let registered = result.registered.first else { throw RegistryError.conflict("device was not registered") }
        return registered
    }

    /// Registers the rows of a CSV file (header `device_id,serial_number,type,...`). Rows of a tenant outside
    /// `inScope` are rejected with their line; with `atomic`, nothing is registered unless every row is valid.
    /// Throws `.invalid` when the file as a whole cannot be read.
    public func importCSV(_ bytes: [UInt8], atomic: Bool, actor: String,
                          inScope: (String) -> Bool = { _ in true }) async throws -> ImportOutcome {
        let parsed: ImportReport
        do {
            parsed = try DeviceCSV.parse(bytes, knownTypes: knownTypes)
        } catch {
            throw RegistryError.invalid("the CSV file cannot be read: \(error.description)")
        }
        var report = ImportReport(accepted: [], rejected: parsed.rejected)
        for row in parsed.accepted {
            if inScope(row.row.tenant) {
                report.accepted.append(row)
            } else {
                report.rejected.append(ImportRejection(line: row.line, deviceId: row.row.deviceId,
                                                       reason: RegistryError.outOfScope(tenant: row.row.tenant).description))
            }
        }
        if atomic, !report.rejected.isEmpty {
            return ImportOutcome(atomic: true, registered: [], rejected: report.rejected.sorted { $0.line < $1.line })
        }
        let result = try await repository.register(report.accepted, actor: actor, claimValiditySeconds: claimValiditySeconds)
        return ImportOutcome(atomic: atomic, registered: result.registered,
                             rejected: (report.rejected + result.rejected).sorted { $0.line < $1.line })
    }

    // MARK: Changes

    /// Changes metadata (the same field rules as registration); the history names the fields.
    /// Throws `.invalid` for a patch that changes nothing or breaks a rule, `.outOfScope` when it moves the device
    /// to a tenant outside `inScope`, `.notFound`.
    public func update(_ deviceId: String, with patch: DevicePatch, actor: String, client: String?,
                       inScope: (String) -> Bool = { _ in true }) async throws -> Device {
        guard !patch.fieldNames.isEmpty else { throw RegistryError.invalid("the body changes nothing") }
        try validate(patch)
        if let tenant = patch.tenant, !inScope(tenant) { throw RegistryError.outOfScope(tenant: tenant) }
        return try await repository.update(deviceId, with: patch, actor: actor, client: client)
    }

    /// Suspends, resumes or decommissions through the lifecycle state machine, then makes the broker enforce
    /// the new state. The change stands even when the broker does not take it at once (reconciliation does).
    /// Throws `.invalid` (decommissioning without a reason), `.notFound`, `.lifecycle` (not allowed from here).
    public func change(_ action: LifecycleAction, deviceId: String, actor: String, client: String?,
                       reason: String?) async throws -> Device {
        if action == .decommission, (reason ?? "").isEmpty {
            throw RegistryError.invalid("decommissioning needs a reason: {\"reason\": \"...\"}")
        }
        let device = try await repository.apply(action, to: deviceId, actor: actor, client: client, reason: reason)
        if let broker {
            do {
                try await broker.enforce(device.lifecycleState, deviceId: deviceId)
            } catch {
                logger.warning("broker did not take the lifecycle change yet", metadata: [
                    "device": "\(deviceId)", "state": "\(device.lifecycleState.rawValue)", "error": "\(error)",
                ])
            }
        }
        return device
    }

    /// The same field rules as registration (lengths, characters, no personal identity numbers), checked by
    /// validating a registration row built around the changed fields.
    private func validate(_ patch: DevicePatch) throws {
        if let tag = patch.tags?.first(where: { $0.contains(";") }) {
            throw RegistryError.invalid("tag \"\(tag)\" contains ';', which separates tags")
        }
        if patch.tenant == "" { throw RegistryError.invalid("tenant cannot be empty") }
        let values: [DeviceCSVColumn: String] = [
            .deviceId: "patch", .serialNumber: "patch", .type: knownTypes.min() ?? "sensor",
            .vendor: patch.vendor ?? "", .model: patch.model ?? "", .firmwareVersion: patch.firmwareVersion ?? "",
            .tenant: patch.tenant ?? "patch", .placement: patch.placement ?? "",
            .careRecipientRef: patch.careRecipientRef ?? "", .tags: (patch.tags ?? []).joined(separator: ";"),
        ]
        if case .failure(let rejection) = DeviceCSV.validate(values, knownTypes: knownTypes) {
            throw RegistryError.invalid(rejection.reason)
        }
    }
}

/// A registration as a JSON body carries it (`tags` may be left out); `DeviceRegistry.register` applies the
/// same rules as to a CSV row.
extension DeviceImportRow: Decodable {
    enum CodingKeys: String, CodingKey {
        case deviceId, serialNumber, type, vendor, model, firmwareVersion, tenant, placement, careRecipientRef, tags
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(deviceId: try container.decode(String.self, forKey: .deviceId),
                  serialNumber: try container.decode(String.self, forKey: .serialNumber),
                  type: try container.decode(String.self, forKey: .type),
                  vendor: try container.decodeIfPresent(String.self, forKey: .vendor),
                  model: try container.decodeIfPresent(String.self, forKey: .model),
                  firmwareVersion: try container.decodeIfPresent(String.self, forKey: .firmwareVersion),
                  tenant: try container.decode(String.self, forKey: .tenant),
                  placement: try container.decodeIfPresent(String.self, forKey: .placement),
                  careRecipientRef: try container.decodeIfPresent(String.self, forKey: .careRecipientRef),
                  tags: try container.decodeIfPresent([String].self, forKey: .tags) ?? [])
    }
}
