import Access
import Foundation
import Hummingbird
import Locks
import Models
import Registry

/// Integration tier: who may open which lock, when. Grants are class 3 (they tell when care staff come to a
/// person's home): every route needs clearance 3, sees only locks of the client's tenants, and is audited.
struct LocksController<Context: ClientRequestContext> {
    let grants: any GrantRepository
    let devices: any DeviceRepository
    let schedule: GrantSchedule
    /// Device types that are locks (the catalogue's `digital-lock`).
    let lockTypes: Set<String>
    let clock: @Sendable () -> Int64

    /// Grants name staff and times of visits to a home.
    static var dataClass: Int { 3 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("locks/:deviceId/grants", use: create)
        routes.get("locks/:deviceId/grants", use: list)
        routes.delete("locks/:deviceId/grants/:grantId", use: revoke)
        routes.get("locks/:deviceId/access", use: access)
        return routes
    }

    struct GrantRequest: Decodable {
        var staffRef: String
        var validFrom: String?
        var validTo: String?
        var weekly: WeeklyRequest?
        var source: String?
        var visitRef: String?
        var reason: String?
    }

    struct WeeklyRequest: Decodable {
        /// `mon` ... `sun`.
        var days: [String]
        /// Local time `HH:MM` (Europe/Stockholm).
        var start: String
        var end: String
    }

    /// `POST /integration/v1/locks/{id}/grants`: 201 with the grant.
    @Sendable func create(_ request: Request, context: Context) async throws -> EditedResponse<GrantBody> {
        let lock = try await requireLock(context)
        // Small bodies only (a grant is a few hundred bytes).
        let buffer = try await request.body.collect(upTo: 64 << 10)
        let body: GrantRequest
        do {
            body = try JSONDecoder().decode(GrantRequest.self, from: Data(buffer: buffer))
        } catch {
            throw Problem.badRequest("the body must be a JSON grant: {\"staffRef\", \"validTo\", \"validFrom\"?, \"weekly\"?, \"visitRef\"?, \"reason\"?}")
        }
        let grant = try Self.validate(body, nowMicros: clock())
        let created = try await grants.create(grant, deviceId: lock.deviceId, grantedBy: context.client?.name ?? "api")
        context.audit?.returned(records: 1, dataClass: Self.dataClass, subjects: [lock.deviceId])
        return EditedResponse(status: .created, response: GrantBody(created))
    }

    /// `GET /integration/v1/locks/{id}/grants?includeEnded=&limit=&cursor=`: grants in force or starting later,
    /// newest first; with `includeEnded=true` also expired and revoked ones.
    @Sendable func list(_ request: Request, context: Context) async throws -> GrantListBody {
        let lock = try await requireLock(context)
        let query = QueryReader(request)
        let includeEnded = try query.flag("includeEnded") ?? false
        let limit = try query.limit(default: 100, max: 1_000)
        let before = try query.string("cursor", maxLength: 64).map { text -> Int64 in
            guard let id = Int64(text), id > 0 else { throw Problem.badParameter("cursor", "cursor is the nextCursor of the previous page") }
            return id
        }
        let found = try await grants.grants(deviceId: lock.deviceId, includeEnded: includeEnded, nowMicros: clock(),
                                            beforeId: before, limit: limit + 1)
        let page = found.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: Self.dataClass, subjects: [lock.deviceId])
        return GrantListBody(deviceId: lock.deviceId, items: page.map(GrantBody.init),
                             nextCursor: found.count > limit ? page.last.map { String($0.id) } : nil)
    }

    /// `DELETE /integration/v1/locks/{id}/grants/{grantId}`: revokes at once; the grant is kept (revoked).
    @Sendable func revoke(_ request: Request, context: Context) async throws -> GrantBody {
        let lock = try await requireLock(context)
        let text = context.parameters.get("grantId") ?? ""
        guard let id = Int64(text), id > 0 else { throw Problem.badParameter("grantId", "grantId must be a positive whole number") }
        guard let revoked = try await grants.revoke(id, deviceId: lock.deviceId, by: context.client?.name ?? "api") else {
            throw Problem.notFound("lock \(lock.deviceId) has no grant \(id)")
        }
        context.audit?.returned(records: 1, dataClass: Self.dataClass, subjects: [lock.deviceId])
        return GrantBody(revoked)
    }

    /// `GET /integration/v1/locks/{id}/access?staffRef=&at=`: whether the staff member may open the lock at `at`
    /// (default now), and by which grant or why not. The lock itself must be in service (active).
    @Sendable func access(_ request: Request, context: Context) async throws -> AccessBody {
        let lock = try await requireLock(context)
        let query = QueryReader(request)
        guard let staffRef = try query.string("staffRef", maxLength: 64) else {
            throw Problem.badParameter("staffRef", "staffRef is required")
        }
        try Self.checkReference("staffRef", staffRef)
        let at = try query.time("at") ?? clock()
        let decision: AccessDecision
        if lock.lifecycleState != .active {
            decision = .refused(.lockNotInService)
        } else {
            decision = schedule.decide(staffRef: staffRef, grants: try await grants.grants(deviceId: lock.deviceId, staffRef: staffRef),
                                       atMicros: at)
        }
        context.audit?.returned(records: 1, dataClass: Self.dataClass, subjects: [lock.deviceId])
        return AccessBody(deviceId: lock.deviceId, staffRef: staffRef, at: RFC3339.format(micros: at), decision: decision,
                          lockState: lock.lifecycleState.rawValue)
    }

    // MARK: Rules

    private func requireLock(_ context: Context) async throws -> Device {
        try await LockLookup(devices: devices, lockTypes: lockTypes).require(context, what: "lock access grants")
    }

    /// A pseudonymous reference: 1 to 64 of A-Z a-z 0-9 - _ . :, never a personal identity number.
    static func checkReference(_ name: String, _ value: String) throws {
        if let problem = PseudonymousReference.problem(value) { throw Problem.badParameter(name, "\(name) \(problem)") }
    }

    /// How far ahead a grant may end: a care plan is renewed well within a year.
    static var maxHorizonMicros: Int64 { 366 * 86_400_000_000 }

    static func validate(_ body: GrantRequest, nowMicros: Int64) throws -> NewGrant {
        try checkReference("staffRef", body.staffRef)
        func time(_ name: String, _ text: String?) throws -> Int64? {
            guard let text else { return nil }
            guard let micros = RFC3339.micros(text) else {
                throw Problem.badParameter(name, "\(name) must be an RFC 3339 timestamp such as 2026-11-24T08:00:00+01:00")
            }
            return micros
        }
        let from = try time("validFrom", body.validFrom)
        let to = try time("validTo", body.validTo)
        if let from, let to, to <= from { throw Problem.badParameter("validTo", "validTo must be later than validFrom") }
        let weekly = try body.weekly.map { try WeeklyWindowText.parse(days: $0.days, start: $0.start, end: $0.end, field: "weekly") }
        // Never open-ended: every grant ends, within a year of its start (or of now).
        guard let to else { throw Problem.badParameter("validTo", "a grant needs validTo (a weekly window too)") }
        guard to - (from ?? nowMicros) <= maxHorizonMicros else {
            throw Problem.badParameter("validTo", "validTo is at most 366 days after validFrom (or now)")
        }
        // Visit-plan grants come from the plan import, alarm grants from alarm visits: by hand, only manual.
        guard (body.source ?? GrantSource.manual.rawValue) == GrantSource.manual.rawValue else {
            throw Problem.badParameter("source", "source is manual here (visit-plan grants come from POST /integration/v1/visit-plans, alarm grants from alarm visits)")
        }
        let source = GrantSource.manual
        if let visitRef = body.visitRef { try checkReference("visitRef", visitRef) }
        if let reason = body.reason {
            guard reason.count <= 500, !reason.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) else {
                throw Problem.badParameter("reason", "reason must be at most 500 characters of text")
            }
            guard !PersonalIdentityNumber.appears(in: reason) else {
                throw Problem.badParameter("reason", "reason must not hold a personal identity number")
            }
        }
        return NewGrant(staffRef: body.staffRef, validFromMicros: from, validToMicros: to, weekly: weekly, source: source,
                        visitRef: body.visitRef, reason: body.reason)
    }

}

struct GrantBody: ResponseEncodable, Sendable {
    var id: Int64
    var deviceId: String
    var staffRef: String
    var validFrom: String?
    var validTo: String?
    var weekly: WeeklyWindowText?
    var source: String
    var visitRef: String?
    var grantedBy: String
    var reason: String?
    var createdAt: String
    var revokedAt: String?
    var revokedBy: String?

    init(_ grant: AccessGrant) {
        id = grant.id
        deviceId = grant.deviceId
        staffRef = grant.staffRef
        validFrom = grant.validFromMicros.map { RFC3339.format(micros: $0) }
        validTo = grant.validToMicros.map { RFC3339.format(micros: $0) }
        weekly = grant.weekly.map(WeeklyWindowText.init)
        source = grant.source.rawValue
        visitRef = grant.visitRef
        grantedBy = grant.grantedBy
        reason = grant.reason
        createdAt = RFC3339.format(micros: grant.createdAtMicros)
        revokedAt = grant.revokedAtMicros.map { RFC3339.format(micros: $0) }
        revokedBy = grant.revokedBy
    }

}

struct GrantListBody: ResponseEncodable, Sendable {
    var deviceId: String
    var items: [GrantBody]
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    var nextCursor: String?
}

struct AccessBody: ResponseEncodable, Sendable {
    var deviceId: String
    var staffRef: String
    var at: String
    var allowed: Bool
    var grantId: Int64?
    /// Why not: `no-grant`, `revoked`, `not-yet-valid`, `expired`, `outside-window`, `lock-not-in-service`.
    var refusal: String?
    var detail: String?
    var lockState: String

    init(deviceId: String, staffRef: String, at: String, decision: AccessDecision, lockState: String) {
        self.deviceId = deviceId
        self.staffRef = staffRef
        self.at = at
        self.lockState = lockState
        switch decision {
        case .allowed(let grantId):
            allowed = true
            self.grantId = grantId
        case .refused(let refusal):
            allowed = false
            self.refusal = refusal.rawValue
            detail = refusal.description
        }
    }
}
