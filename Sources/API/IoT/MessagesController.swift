import Hummingbird
import Storage

/// IoT tier: raw messages and dead letters, for device administrators troubleshooting a device.
struct MessagesController<Context: RequestContext> {
    let repository: any TelemetryRepository

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
        let rows = try await repository.recentMessages(deviceID: deviceID, limit: limit)
        if rows.isEmpty, !(try await repository.deviceIsKnown(deviceID)) {
            throw Problem.notFound("no device \(deviceID) has sent anything to this gateway")
        }
        return Page(items: rows.map(RawMessageBody.init), nextCursor: nil)
    }

    /// `GET /iot/v1/dead-letters?limit=&cursor=`: rejected input, newest first.
    @Sendable func deadLetters(_ request: Request, context: Context) async throws -> Page<DeadLetterBody> {
        let query = QueryReader(request)
        let limit = try query.limit(default: 100, max: 1_000)
        let before = try query.string("cursor", maxLength: 1024).map(Cursor.decodeDeadLetter)
        let rows = try await repository.deadLetters(limit: limit + 1, beforeID: before)
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last?.id.map(Cursor.encodeDeadLetter) : nil
        return Page(items: page.map(DeadLetterBody.init), nextCursor: next)
    }
}
