import Registry
import Access
import Hummingbird
import Telemetry

/// IoT tier: raw messages and dead letters, for device administrators troubleshooting a device.
struct MessagesController<Context: ClientRequestContext> {
    let repository: any TelemetryRepository
    let devices: any DeviceRepository

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("devices/:deviceId/messages", use: messages)
        routes.get("dead-letters", use: deadLetters)
        return routes
    }

    /// `GET /iot/v1/devices/{id}/messages?limit=`: the device's most recent messages as received.
    @Sendable func messages(_ request: Request, context: Context) async throws -> Page<RawMessageBody> {
        let deviceID = try knownDeviceID(context)
        let limit = try QueryReader(request).limit(default: 50, max: 500)
        try await context.scope.requireDevice(deviceID, in: devices)
        let rows = try await repository.recentMessages(deviceID: deviceID, limit: limit)
        if rows.isEmpty, !(try await repository.deviceIsKnown(deviceID)) {
            throw Problem.notFound("no device \(deviceID) has sent anything to this gateway")
        }
        // A raw payload holds every value of the message: it is class 3.
        let clearance = context.scope.clearance
        context.audit?.returned(records: rows.count, dataClass: clearance >= 3 ? 3 : 2, subjects: [deviceID])
        return Page(items: rows.map { RawMessageBody($0, withPayload: clearance >= 3) }, nextCursor: nil)
    }

    /// `GET /iot/v1/dead-letters?limit=&cursor=`: rejected input, newest first.
    @Sendable func deadLetters(_ request: Request, context: Context) async throws -> Page<DeadLetterBody> {
        let query = QueryReader(request)
        let limit = try query.limit(default: 100, max: 1_000)
        let before = try query.string("cursor", maxLength: 1024).map(Cursor.decodeDeadLetter)
        let rows = try await repository.deadLetters(limit: limit + 1, beforeID: before, tenants: context.scope.tenants)
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last?.id.map(Cursor.encodeDeadLetter) : nil
        let clearance = context.scope.clearance
        context.audit?.returned(records: page.count, dataClass: clearance >= 3 ? 3 : 2, subjects: page.compactMap(\.deviceID))
        return Page(items: page.map { DeadLetterBody($0, withPayload: clearance >= 3) }, nextCursor: next)
    }
}
