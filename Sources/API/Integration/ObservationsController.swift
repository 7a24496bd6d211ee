import Registry
import Access
import Hummingbird
import Models
import Telemetry

/// Integration tier: normalized observations of a device.
struct ObservationsController<Context: ClientRequestContext> {
    let repository: any TelemetryRepository
    let devices: any DeviceRepository

    static var maxPageSize: Int { 1_000 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("devices/:deviceId/observations", use: observations)
        routes.get("devices/:deviceId/latest", use: latest)
        return routes
    }

    /// `GET /integration/v1/devices/{id}/observations?quantity=&from=&to=&limit=&cursor=`: newest first.
    @Sendable func observations(_ request: Request, context: Context) async throws -> Page<ObservationBody> {
        let deviceID = try knownDeviceID(context)
        let query = QueryReader(request)
        let quantity = try query.string("quantity", maxLength: 200)
        let from = try query.time("from")
        let to = try query.time("to")
        if let from, let to, from >= to {
            throw Problem.badParameter("to", "to must be later than from")
        }
        let limit = try query.limit(default: 100, max: Self.maxPageSize)
        let cursor = try query.string("cursor", maxLength: 1024).map(Cursor.decodeObservation)
        try await context.scope.requireDevice(deviceID, in: devices)
        let rows = try await repository.observations(ObservationQuery(
            deviceID: deviceID, quantity: quantity, fromMicros: from, toMicros: to, limit: limit + 1, after: cursor,
            maxConfidentiality: context.scope.clearance))
        if rows.isEmpty { try await requireKnown(deviceID) }
        let page = rows.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: page.map { $0.confidentiality ?? 3 }.max() ?? 1,
                                subjects: page.isEmpty ? [] : [deviceID])
        let next = rows.count > limit ? page.last.map { Cursor.encode(ObservationCursor(after: $0)) } : nil
        return Page(items: page.map(ObservationBody.init), nextCursor: next)
    }

    /// `GET /integration/v1/devices/{id}/latest`: the newest value of each quantity.
    @Sendable func latest(_ request: Request, context: Context) async throws -> LatestBody {
        let deviceID = try knownDeviceID(context)
        try await context.scope.requireDevice(deviceID, in: devices)
        let rows = try await repository.latest(deviceID: deviceID, maxConfidentiality: context.scope.clearance)
        if rows.isEmpty { try await requireKnown(deviceID) }
        context.audit?.returned(records: rows.count, dataClass: rows.map { $0.confidentiality ?? 3 }.max() ?? 1,
                                subjects: rows.isEmpty ? [] : [deviceID])
        return LatestBody(deviceId: deviceID, items: rows.map(ObservationBody.init))
    }

    /// Asked only when a read found nothing (one statement less on the common path): a device that never sent
    /// anything is not found, one that did has an empty page.
    private func requireKnown(_ deviceID: String) async throws {
        guard try await repository.deviceIsKnown(deviceID) else {
            throw Problem.notFound("no device \(deviceID) has sent anything to this gateway")
        }
    }
}

/// The `{deviceId}` path parameter, checked against the device id rules.
func knownDeviceID(_ context: some RequestContext) throws -> String {
    let id = context.parameters.get("deviceId") ?? ""
    guard DeviceID.isValid(id) else {
        throw Problem.badParameter("deviceId", "device id must be 1 to 128 characters of A-Z a-z 0-9 - _ . :")
    }
    return id
}
