import Access
import Foundation
import Hummingbird
import Models
import Registry

/// IoT tier: register devices (one, or a CSV file), list and read them, and move them through their lifecycle.
struct DevicesController<Context: ClientRequestContext> {
    /// The use cases (field rules, lifecycle, broker enforcement); this controller adds HTTP and the client's scope.
    let registry: DeviceRegistry
    var repository: any DeviceRepository { registry.repository }

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

    /// `POST /iot/v1/devices`: 201 with the device and its one-time claim code.
    @Sendable func register(_ request: Request, context: Context) async throws -> EditedResponse<RegisteredBody> {
        let body = try await request.decode(as: DeviceImportRow.self, context: context)
        let scope = context.scope
        let registered = try await Self.answering {
            try await registry.register(body, actor: context.client?.name ?? "api", inScope: { scope.sees(tenant: $0) })
        }
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
        let scope = context.scope
        let outcome = try await Self.answering {
            try await registry.importCSV(Array(buffer: buffer), atomic: atomic, actor: context.client?.name ?? "api",
                                         inScope: { scope.sees(tenant: $0) })
        }
        return ImportReportBody(outcome)
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
        // `actor` is what the request claims; the authenticated client is recorded beside it, never replaced.
        let actor = try actorNamed(body.actor, context)
        let scope = context.scope
        let device = try await Self.answering {
            try await registry.update(id, with: patch, actor: actor, client: context.client?.name,
                                      inScope: { scope.sees(tenant: $0) })
        }
        context.noteDevices([device])
        return DeviceBody(device, clearance: context.scope.clearance)
    }

    /// The person or system a change names (`actor`), defaulting to the client; checked like an operator id.
    private func actorNamed(_ actor: String?, _ context: Context) throws -> String {
        guard let actor else { return context.client?.name ?? "api" }
        guard (1...128).contains(actor.count), actor.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:@ ".contains($0) }) else {
            throw Problem.badRequest("actor must be 1 to 128 letters, digits, spaces or - _ . : @")
        }
        return actor
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
        let actor = try actorNamed(body.actor, context)
        let device = try await Self.answering {
            try await registry.change(action, deviceId: id, actor: actor, client: context.client?.name, reason: body.reason)
        }
        context.noteDevices([device])
        return DeviceBody(device, clearance: context.scope.clearance)
    }

    /// Runs a use case and answers its `RegistryError` as a problem: 400 for a broken rule, 404 for an unknown
    /// device, 409 for a taken id or a lifecycle change not allowed from the current state.
    static func answering<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RegistryError {
            switch error {
            case .invalid: throw Problem.badRequest(error.description)
            case .outOfScope: throw Problem.forbidden(error.description)
            case .notFound: throw Problem.notFound(error.description)
            case .conflict, .lifecycle: throw Problem.conflict(error.description)
            }
        }
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

    /// The report of an import, as the API and `cip-gateway devices import` print it.
    public init(_ outcome: DeviceRegistry.ImportOutcome) {
        atomic = outcome.atomic
        registered = outcome.registered.map(RegisteredBody.init)
        rejected = outcome.rejected.map(RejectionBody.init)
    }
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
