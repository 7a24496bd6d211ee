import Access
import Foundation
import Hummingbird
import Models
import Registry

/// IoT tier: register devices (one, or a CSV file), list and read them, and move them through their lifecycle.
struct DevicesController<Context: ClientRequestContext> {
    let repository: any DeviceRepository
    let catalogue: Catalogue
    /// How long a claim code stays usable.
    let claimValiditySeconds: Double
    /// Enforces lifecycle changes at the broker at once (a reconciler catches up if it is away).
    let broker: (any BrokerAccess)?

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("devices", use: register)
        routes.post("devices/import", use: importCSV)
        routes.get("devices", use: list)
        routes.get("devices/:deviceId", use: show)
        routes.patch("devices/:deviceId", use: update)
        routes.get("devices/:deviceId/history", use: history)
        routes.post("devices/:deviceId/suspend") { request, context in try await change(.suspend, request, context) }
        routes.post("devices/:deviceId/resume") { request, context in try await change(.resume, request, context) }
        routes.post("devices/:deviceId/decommission") { request, context in try await change(.decommission, request, context) }
        return routes
    }

    struct Registration: Decodable {
        var deviceId: String
        var serialNumber: String
        var type: String
        var vendor: String?
        var model: String?
        var firmwareVersion: String?
        var tenant: String
        var placement: String?
        var careRecipientRef: String?
        var tags: [String]?
    }

    /// `POST /iot/v1/devices`: 201 with the device and its one-time claim code.
    @Sendable func register(_ request: Request, context: Context) async throws -> EditedResponse<RegisteredBody> {
        let body = try await request.decode(as: Registration.self, context: context)
        if let tag = body.tags?.first(where: { $0.contains(";") }) {
            throw Problem.badRequest("tag \"\(tag)\" contains ';', which separates tags")
        }
        let values: [DeviceCSVColumn: String] = [
            .deviceId: body.deviceId, .serialNumber: body.serialNumber, .type: body.type, .vendor: body.vendor ?? "",
            .model: body.model ?? "", .firmwareVersion: body.firmwareVersion ?? "", .tenant: body.tenant,
            .placement: body.placement ?? "", .careRecipientRef: body.careRecipientRef ?? "",
            .tags: (body.tags ?? []).joined(separator: ";"),
        ]
        guard context.scope.sees(tenant: body.tenant) else {
            throw Problem.forbidden("tenant \(body.tenant) is not one of this client's")
        }
        let row: DeviceImportRow
        switch DeviceCSV.validate(values, knownTypes: knownTypes) {
        case .success(let valid): row = valid
        case .failure(let rejection): throw Problem.badRequest(rejection.reason)
        }
        let result = try await repository.register([ImportedRow(line: 1, row: row)], actor: context.client?.name ?? "api",
                                                   claimValiditySeconds: claimValiditySeconds)
        if let rejection = result.rejected.first { throw Problem.conflict(rejection.reason) }
        guard let registered = result.registered.first else { throw Problem.conflict("device was not registered") }
        return EditedResponse(status: .created, response: RegisteredBody(registered))
    }

    /// `POST /iot/v1/devices/import` (text/csv): a per-row report; `?atomic=true` registers nothing unless every
    /// row is valid.
    @Sendable func importCSV(_ request: Request, context: Context) async throws -> ImportReportBody {
        let atomic = try QueryReader(request).string("atomic", maxLength: 5).map { value -> Bool in
            guard let flag = Bool(value) else { throw Problem.badParameter("atomic", "atomic must be true or false") }
            return flag
        } ?? false
        let buffer = try await request.body.collect(upTo: 16 << 20)
        let report: ImportReport
        do {
            report = try DeviceCSV.parse(Array(buffer: buffer), knownTypes: knownTypes)
        } catch {
            throw Problem.badRequest("the CSV file cannot be read: \(error.description)")
        }
        return try await DeviceImport.run(Self.scoped(report, context.scope), atomic: atomic, repository: repository,
                                          claimValiditySeconds: claimValiditySeconds, actor: context.client?.name ?? "api")
    }

    /// A tenant-scoped client registers devices of its own tenants only: other rows are rejected with the line.
    static func scoped(_ report: ImportReport, _ scope: Scope) -> ImportReport {
        var scoped = ImportReport(accepted: [], rejected: report.rejected)
        for row in report.accepted {
            if scope.sees(tenant: row.row.tenant) {
                scoped.accepted.append(row)
            } else {
                scoped.rejected.append(ImportRejection(line: row.line, deviceId: row.row.deviceId,
                                                       reason: "tenant \(row.row.tenant) is not one of this client's"))
            }
        }
        scoped.rejected.sort { $0.line < $1.line }
        return scoped
    }

    /// `GET /iot/v1/devices?type=&state=&tenant=&limit=&cursor=`
    @Sendable func list(_ request: Request, context: Context) async throws -> Page<DeviceBody> {
        let query = QueryReader(request)
        let type = try query.string("type", maxLength: 64)
        let state = try query.string("state", maxLength: 32).map { text -> LifecycleState in
            guard let state = LifecycleState(rawValue: text) else {
                throw Problem.badParameter("state", "state must be one of \(LifecycleState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return state
        }
        let tenant = try query.string("tenant", maxLength: 128)
        let connectivity = try query.string("connectivity", maxLength: 16).map { text -> String in
            guard ["unknown", "online", "offline"].contains(text) else {
                throw Problem.badParameter("connectivity", "connectivity must be one of unknown, online, offline")
            }
            return text
        }
        let text = try query.string("q", maxLength: 128)
        let limit = try query.limit(default: 100, max: 1_000)
        let after = try query.string("cursor", maxLength: 1024).map(Cursor.decodeDevice)
        var deviceQuery = DeviceQuery(type: type, state: state, tenant: tenant, connectivity: connectivity, text: text,
                                      afterDeviceId: after, limit: limit + 1)
        deviceQuery.tenants = context.scope.tenants
        let devices = try await repository.list(deviceQuery)
        let page = devices.prefix(limit)
        let next = devices.count > limit ? page.last.map { Cursor.encodeDevice(id: $0.deviceId) } : nil
        let clearance = context.scope.clearance
        context.noteDevices(Array(page))
        return Page(items: page.map { DeviceBody($0, clearance: clearance) }, nextCursor: next)
    }

    /// `GET /iot/v1/devices/{id}`
    @Sendable func show(_ request: Request, context: Context) async throws -> DeviceBody {
        let id = try knownDeviceID(context)
        guard let device = try await repository.device(id), context.scope.sees(tenant: device.tenant) else {
            throw Problem.notFound("no device \(id) is registered")
        }
        context.noteDevices([device])
        return DeviceBody(device, clearance: context.scope.clearance)
    }

    struct Patch: Decodable {
        var vendor: String?
        var model: String?
        var firmwareVersion: String?
        var tenant: String?
        var placement: String?
        var careRecipientRef: String?
        var tags: [String]?
        var actor: String?
        // Identity fields, refused with a clear message rather than ignored.
        var deviceId: String?
        var serialNumber: String?
        var type: String?
        var lifecycleState: String?
    }

    /// `PATCH /iot/v1/devices/{id}`: metadata only (vendor, model, firmware version, tenant, placement,
    /// care-recipient reference, tags); `""` clears an optional field. The history records which fields changed.
    @Sendable func update(_ request: Request, context: Context) async throws -> DeviceBody {
        let id = try knownDeviceID(context)
        try await context.scope.requireDevice(id, in: repository)
        let buffer = try await request.body.collect(upTo: 64 << 10)
        let body: Patch
        do {
            body = try JSONDecoder().decode(Patch.self, from: Data(buffer: buffer))
        } catch {
            throw Problem.badRequest("the body must be a JSON object of the fields to change (vendor, model, firmwareVersion, tenant, placement, careRecipientRef, tags)")
        }
        if body.deviceId != nil || body.serialNumber != nil || body.type != nil {
            throw Problem.badRequest("deviceId, serialNumber and type cannot change; decommission and register anew")
        }
        if body.lifecycleState != nil {
            throw Problem.badRequest("the lifecycle state changes through /suspend, /resume and /decommission")
        }
        let patch = DevicePatch(vendor: body.vendor, model: body.model, firmwareVersion: body.firmwareVersion,
                                tenant: body.tenant, placement: body.placement, careRecipientRef: body.careRecipientRef,
                                tags: body.tags)
        guard !patch.fieldNames.isEmpty else { throw Problem.badRequest("the body changes nothing") }
        try validate(patch)
        do {
            if let tenant = patch.tenant, !context.scope.sees(tenant: tenant) {
                throw Problem.forbidden("tenant \(tenant) is not one of this client's")
            }
            // `actor` is what the request claims; the authenticated client is recorded beside it, never replaced.
            let device = try await repository.update(id, with: patch, actor: try actorNamed(body.actor, context),
                                                     client: context.client?.name)
            context.noteDevices([device])
            return DeviceBody(device, clearance: context.scope.clearance)
        } catch let error as RegistryError {
            throw Problem.notFound(error.description)
        }
    }

    /// The person or system a change names (`actor`), defaulting to the client; checked like an operator id.
    private func actorNamed(_ actor: String?, _ context: Context) throws -> String {
        guard let actor else { return context.client?.name ?? "api" }
        guard (1...128).contains(actor.count), actor.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:@ ".contains($0) }) else {
            throw Problem.badRequest("actor must be 1 to 128 letters, digits, spaces or - _ . : @")
        }
        return actor
    }

    /// The same field rules as registration (lengths, characters, no personal identity numbers).
    private func validate(_ patch: DevicePatch) throws {
        if let tag = patch.tags?.first(where: { $0.contains(";") }) {
            throw Problem.badRequest("tag \"\(tag)\" contains ';', which separates tags")
        }
        if patch.tenant == "" { throw Problem.badRequest("tenant cannot be empty") }
        // Check the changed fields by validating a registration row built around them.
        let values: [DeviceCSVColumn: String] = [
            .deviceId: "patch", .serialNumber: "patch", .type: catalogue.deviceTypes.first?.id ?? "sensor",
            .vendor: patch.vendor ?? "", .model: patch.model ?? "", .firmwareVersion: patch.firmwareVersion ?? "",
            .tenant: patch.tenant ?? "patch", .placement: patch.placement ?? "",
            .careRecipientRef: patch.careRecipientRef ?? "", .tags: (patch.tags ?? []).joined(separator: ";"),
        ]
        if case .failure(let rejection) = DeviceCSV.validate(values, knownTypes: knownTypes) {
            throw Problem.badRequest(rejection.reason)
        }
    }

    /// `GET /iot/v1/devices/{id}/history`: every change, oldest first.
    @Sendable func history(_ request: Request, context: Context) async throws -> HistoryBody {
        let id = try knownDeviceID(context)
        try await context.scope.requireDevice(id, in: repository)
        let entries = try await repository.history(id)
        guard !entries.isEmpty else { throw Problem.notFound("no device \(id) is registered") }
        context.audit?.returned(records: entries.count, dataClass: 2, subjects: [id])
        return HistoryBody(deviceId: id, items: entries.map(HistoryEntryBody.init))
    }

    struct ChangeRequest: Decodable {
        var reason: String?
        var actor: String?
    }

    /// `POST /iot/v1/devices/{id}/suspend|resume|decommission` with `{"reason": ...}`; 409 names the allowed actions.
    @Sendable func change(_ action: LifecycleAction, _ request: Request, _ context: Context) async throws -> DeviceBody {
        let id = try knownDeviceID(context)
        try await context.scope.requireDevice(id, in: repository)
        let buffer = try await request.body.collect(upTo: 64 << 10)
        let body: ChangeRequest
        do {
            body = buffer.readableBytes == 0 ? ChangeRequest() : try JSONDecoder().decode(ChangeRequest.self, from: Data(buffer: buffer))
        } catch {
            throw Problem.badRequest("the body must be JSON like {\"reason\": \"...\", \"actor\": \"...\"}")
        }
        if action == .decommission, (body.reason ?? "").isEmpty {
            throw Problem.badRequest("decommissioning needs a reason: {\"reason\": \"...\"}")
        }
        do {
            let device = try await repository.apply(action, to: id, actor: try actorNamed(body.actor, context),
                                                    client: context.client?.name, reason: body.reason)
            if let broker {
                do {
                    try await broker.enforce(device.lifecycleState, deviceId: id)
                } catch {
                    // The change is committed; the broker reconciliation enforces it as soon as it can.
                    context.logger.warning("broker did not take the lifecycle change yet", metadata: [
                        "device": "\(id)", "state": "\(device.lifecycleState.rawValue)", "error": "\(error)",
                    ])
                }
            }
            context.noteDevices([device])
            return DeviceBody(device, clearance: context.scope.clearance)
        } catch let error as RegistryError {
            switch error {
            case .notFound: throw Problem.notFound(error.description)
            case .conflict, .lifecycle: throw Problem.conflict(error.description)
            }
        }
    }

    private var knownTypes: Set<String> { Set(catalogue.deviceTypes.map(\.id)) }
}

/// Registration of parsed rows, shared by the HTTP import and `cip-gateway devices import`.
public enum DeviceImport {
    public static func run(_ report: ImportReport, atomic: Bool, repository: any DeviceRepository,
                           claimValiditySeconds: Double, actor: String) async throws -> ImportReportBody {
        if atomic, !report.rejected.isEmpty {
            return ImportReportBody(atomic: true, registered: [], rejected: report.rejected.map(RejectionBody.init))
        }
        let result = try await repository.register(report.accepted, actor: actor, claimValiditySeconds: claimValiditySeconds)
        let rejected = (report.rejected + result.rejected).sorted { $0.line < $1.line }
        return ImportReportBody(atomic: atomic, registered: result.registered.map(RegisteredBody.init),
                                rejected: rejected.map(RejectionBody.init))
    }
}

public struct RegisteredBody: ResponseEncodable, Sendable {
    public var device: DeviceBody
    /// Shown once: only its salted hash is stored.
    public var claimCode: String
    public var claimExpiresAt: String

    init(_ registered: RegisteredDevice) {
        device = DeviceBody(registered.device)
        claimCode = registered.claimCode
        claimExpiresAt = RFC3339.format(micros: registered.claimExpiresAtMicros)
    }
}

public struct RejectionBody: Encodable, Sendable {
    public var line: Int
    public var deviceId: String?
    public var reason: String

    init(_ rejection: ImportRejection) {
        line = rejection.line
        deviceId = rejection.deviceId
        reason = rejection.reason
    }
}

public struct ImportReportBody: ResponseEncodable, Sendable {
    public var atomic: Bool
    public var registered: [RegisteredBody]
    public var rejected: [RejectionBody]
}

public struct DeviceBody: ResponseEncodable, Sendable {
    var deviceId: String
    var serialNumber: String
    var type: String
    var vendor: String?
    var model: String?
    var firmwareVersion: String?
    var tenant: String
    var placement: String?
    var careRecipientRef: String?
    var tags: [String]
    var lifecycleState: String
    var createdAt: String
    var updatedAt: String
    var connectivity: String
    var connectivitySince: String?
    var lastSeen: String?
    var battery: Double?
    var signalStrength: Double?
    /// As the device last reported it (`firmwareVersion` is the registered one).
    var reportedFirmware: String?

    /// The care-recipient reference is personal data (class 3): left out below clearance 3.
    init(_ device: Device, clearance: Int = 3) {
        deviceId = device.deviceId
        serialNumber = device.serialNumber
        type = device.type
        vendor = device.vendor
        model = device.model
        firmwareVersion = device.firmwareVersion
        tenant = device.tenant
        placement = device.placement
        careRecipientRef = clearance >= 3 ? device.careRecipientRef : nil
        tags = device.tags
        lifecycleState = device.lifecycleState.rawValue
        createdAt = RFC3339.format(micros: device.createdAtMicros)
        updatedAt = RFC3339.format(micros: device.updatedAtMicros)
        connectivity = device.supervision.connectivity
        connectivitySince = device.supervision.connectivitySinceMicros.map { RFC3339.format(micros: $0) }
        lastSeen = device.supervision.lastSeenMicros.map { RFC3339.format(micros: $0) }
        battery = device.supervision.battery
        signalStrength = device.supervision.signalStrength
        reportedFirmware = device.supervision.reportedFirmware
    }
}

struct HistoryEntryBody: Encodable {
    var from: String?
    var to: String
    var action: String
    var actor: String
    /// The authenticated client that made the change (absent when no API client did).
    var client: String?
    var reason: String?
    var at: String

    init(_ entry: DeviceHistoryEntry) {
        from = entry.from?.rawValue
        to = entry.to.rawValue
        action = entry.action
        actor = entry.actor
        client = entry.client
        reason = entry.reason
        at = RFC3339.format(micros: entry.atMicros)
    }
}

struct HistoryBody: ResponseEncodable {
    var deviceId: String
    var items: [HistoryEntryBody]
}

extension ClientRequestContext {
    /// Device records are internal (class 2); with the care-recipient reference, which only clearance 3 sees,
    /// they are class 3, and the reference is a subject of the read.
    func noteDevices(_ devices: [Device]) {
        let sensitive = scope.clearance >= 3 && devices.contains { $0.careRecipientRef != nil }
        audit?.returned(records: devices.count, dataClass: sensitive ? 3 : 2,
                        subjects: devices.map(\.deviceId) + (sensitive ? devices.compactMap(\.careRecipientRef) : []))
    }
}
