import Foundation
import Hummingbird
import Locks
import Models
import Registry

/// Integration tier: remote unlock and lock for a staff member inside one of their grants. Every request is stored,
/// a refused one too (the access log shows it); an allowed one is published to the lock (QoS 1) by the command
/// dispatcher and ends as `succeeded` or `failed` when the lock answers, or `expired` when it does not in time.
struct LockCommandsController<Context: ClientRequestContext> {
    let commands: any CommandRepository
    let grants: any GrantRepository
    let lookup: LockLookup
    let schedule: GrantSchedule
    let clock: @Sendable () -> Int64
    /// Tells the dispatcher a command waits (it would otherwise find it within half a second).
    let dispatched: @Sendable () -> Void

    static var defaultTTLSeconds: Int { 60 }
    static var maxTTLSeconds: Int { 600 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("locks/:deviceId/unlock") { request, context in try await self.request(.unlock, request, context) }
        routes.post("locks/:deviceId/lock") { request, context in try await self.request(.lock, request, context) }
        routes.get("commands/:commandId", use: show)
        return routes
    }

    struct CommandRequest: Decodable {
        var staffRef: String
        /// How long the lock may still act on it (default 60 s, at most 600 s): a lock that comes back online later
        /// must not open the door for a visit long over.
        var ttlSeconds: Int?
    }

    /// `POST /integration/v1/locks/{id}/unlock` (or `/lock`) with `{"staffRef": "..."}`: 202 with the pending
    /// command; 403 with the refusal (also stored) when no grant of the staff member allows it now.
    func request(_ action: CommandAction, _ request: Request, _ context: Context) async throws -> EditedResponse<CommandBody> {
        let lock = try await lookup.require(context, what: "lock commands")
        let buffer = try await request.body.collect(upTo: 16 << 10)
        let body: CommandRequest
        do {
            body = try JSONDecoder().decode(CommandRequest.self, from: Data(buffer: buffer))
        } catch {
            throw Problem.badRequest("the body must be JSON: {\"staffRef\": \"...\", \"ttlSeconds\"?: 60}")
        }
        try LocksController<Context>.checkReference("staffRef", body.staffRef)
        let ttl = body.ttlSeconds ?? Self.defaultTTLSeconds
        guard (5...Self.maxTTLSeconds).contains(ttl) else {
            throw Problem.badParameter("ttlSeconds", "ttlSeconds is 5 to \(Self.maxTTLSeconds)")
        }
        let now = clock()
        let staffGrants = lock.lifecycleState == .active
            ? try await grants.grants(deviceId: lock.deviceId, staffRef: body.staffRef) : []
        let decision: AccessDecision = lock.lifecycleState == .active
            ? schedule.decide(staffRef: body.staffRef, grants: staffGrants, atMicros: now)
            : .refused(.lockNotInService)
        var command = LockCommand(id: LockCommand.newID(), deviceId: lock.deviceId, action: action, staffRef: body.staffRef,
                                  requestedBy: context.client?.name ?? "api", requestedAtMicros: now,
                                  expiresAtMicros: now + Int64(ttl) * 1_000_000, grantId: nil, status: .pending)
        switch decision {
        case .allowed(let grantId):
            command.grantId = grantId
            // Never valid past the grant that allows it (its end, or a revocation already set for later).
            if let grant = staffGrants.first(where: { $0.id == grantId }) {
                command.expiresAtMicros = min(command.expiresAtMicros, grant.validToMicros ?? .max, grant.revokedAtMicros ?? .max)
            }
            try await commands.insert(command)
            dispatched()
            context.audit?.returned(records: 1, dataClass: LockLookup.dataClass, subjects: [lock.deviceId])
            var response = EditedResponse(status: .accepted, response: CommandBody(command))
            response.headers[.location] = "/integration/v1/commands/\(command.id)"
            return response
        case .refused(let refusal):
            command.status = .refused
            command.reason = refusal.rawValue
            command.finishedAtMicros = now
            try await commands.insert(command)
            context.audit?.returned(records: 1, dataClass: LockLookup.dataClass, subjects: [lock.deviceId])
            var problem = Problem(status: .forbidden, type: "urn:cip:problem:access-refused", title: "Access refused",
                                  detail: "\(action.rawValue) refused for \(body.staffRef) at \(lock.deviceId): \(refusal.description)")
            problem.extensions = ["refusal": refusal.rawValue, "commandId": command.id]
            throw problem
        }
    }

    /// `GET /integration/v1/commands/{id}`: the command as it stands, for a client that sees its lock.
    @Sendable func show(_ request: Request, context: Context) async throws -> CommandBody {
        let id = context.parameters.get("commandId") ?? ""
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ $0 == 0x2D || (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw Problem.badParameter("commandId", "commandId is the id a command request answered with")
        }
        guard context.scope.clearance >= LockLookup.dataClass else {
            throw Problem.forbidden("lock commands are class \(LockLookup.dataClass); this client is cleared for class \(context.scope.clearance)")
        }
        // Another tenant's command is as unknown as a missing one.
        guard let command = try await commands.command(id), let device = try await lookup.devices.device(command.deviceId),
              context.scope.sees(tenant: device.tenant) else {
            throw Problem.notFound("no command \(id)")
        }
        context.audit?.returned(records: 1, dataClass: LockLookup.dataClass, subjects: [command.deviceId])
        return CommandBody(command)
    }
}

struct CommandBody: ResponseEncodable, Sendable {
    var id: String
    var deviceId: String
    var action: String
    var staffRef: String
    var requestedBy: String
    var requestedAt: String
    var expiresAt: String
    var grantId: Int64?
    /// `refused`, `pending`, `succeeded`, `failed`, `expired`.
    var status: String
    var reason: String?
    var publishedAt: String?
    var finishedAt: String?

    init(_ command: LockCommand) {
        id = command.id
        deviceId = command.deviceId
        action = command.action.rawValue
        staffRef = command.staffRef
        requestedBy = command.requestedBy
        requestedAt = RFC3339.format(micros: command.requestedAtMicros)
        expiresAt = RFC3339.format(micros: command.expiresAtMicros)
        grantId = command.grantId
        status = command.status.rawValue
        reason = command.reason
        publishedAt = command.publishedAtMicros.map { RFC3339.format(micros: $0) }
        finishedAt = command.finishedAtMicros.map { RFC3339.format(micros: $0) }
    }
}
