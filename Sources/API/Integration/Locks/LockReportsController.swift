import Foundation
import Hummingbird
import Locks
import Models
import Registry

/// Integration tier: a lock's access log (grants, commands, refusals, the lock's own events and its missing events,
/// in one timeline) and the visits report of a care recipient (planned and alarm visits with arrival and departure
/// as the lock saw them). Class 3, tenant-scoped, audited like every lock route.
struct LockReportsController<Context: ClientRequestContext> {
    let reports: any LockReportRepository
    let lookup: LockLookup
    let clock: @Sendable () -> Int64

    /// A report covers at most a quarter, so one request never reads a lock's whole history.
    static var maxDays: Int64 { 92 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("locks/:deviceId/access-log", use: accessLog)
        routes.get("visits", use: visits)
        return routes
    }

    /// `GET /integration/v1/locks/{id}/access-log?from=&to=&limit=` (default: the last 7 days, 500 lines).
    @Sendable func accessLog(_ request: Request, context: Context) async throws -> AccessLogBody {
        let lock = try await lookup.require(context, what: "lock access logs", decommissioned: true)
        let query = QueryReader(request)
        let (from, to) = try query.period(now: clock(), defaultSpan: 7 * 86_400_000_000, maxDays: Self.maxDays, what: "a report")
        let limit = try query.limit(default: 500, max: 5_000)
        let entries = try await reports.accessLog(deviceId: lock.deviceId, fromMicros: from, toMicros: to, limit: limit + 1)
        let page = entries.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: LockLookup.dataClass,
                                subjects: [lock.deviceId] + (lock.careRecipientRef.map { [$0] } ?? []))
        return AccessLogBody(deviceId: lock.deviceId, from: RFC3339.format(micros: from), to: RFC3339.format(micros: to),
                             items: page.map(AccessLogBody.Entry.init), truncated: entries.count > limit)
    }

    /// `GET /integration/v1/visits?careRecipientRef=&from=&to=&limit=` (default: the last 7 days and the next one).
    @Sendable func visits(_ request: Request, context: Context) async throws -> VisitsBody {
        guard context.scope.clearance >= LockLookup.dataClass else {
            throw Problem.forbidden("visits are class \(LockLookup.dataClass); this client is cleared for class \(context.scope.clearance)")
        }
        let query = QueryReader(request)
        guard let recipient = try query.string("careRecipientRef", maxLength: 64) else {
            throw Problem.badParameter("careRecipientRef", "careRecipientRef is required")
        }
        try LocksController<Context>.checkReference("careRecipientRef", recipient)
        let (from, to) = try query.period(now: clock(), defaultSpan: 8 * 86_400_000_000, toAhead: 86_400_000_000,
                                          maxDays: Self.maxDays, what: "a report")
        let limit = try query.limit(default: 500, max: 5_000)
        let found = try await reports.visits(careRecipientRef: recipient, lockTypes: lookup.lockTypes.sorted(),
                                             tenants: context.scope.tenants.map(Set.init), fromMicros: from, toMicros: to, limit: limit + 1)
        let page = found.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: LockLookup.dataClass,
                                subjects: [recipient] + Set(page.map(\.deviceId)).sorted())
        return VisitsBody(careRecipientRef: recipient, from: RFC3339.format(micros: from), to: RFC3339.format(micros: to),
                          items: page.map(VisitsBody.Visit.init), truncated: found.count > limit)
    }
}

struct AccessLogBody: ResponseEncodable, Sendable {
    var deviceId: String
    var from: String
    var to: String
    var items: [Entry]
    /// More lines than `limit` in the period: narrow it.
    var truncated: Bool

    struct Entry: Encodable, Sendable {
        var at: String
        var kind: String
        var staffRef: String?
        var detail: [String: String]

        init(_ entry: AccessLogEntry) {
            at = RFC3339.format(micros: entry.atMicros)
            kind = entry.kind.rawValue
            staffRef = entry.staffRef
            detail = entry.detail
        }
    }
}

struct VisitsBody: ResponseEncodable, Sendable {
    var careRecipientRef: String
    var from: String
    var to: String
    var items: [Visit]
    var truncated: Bool

    struct Visit: Encodable, Sendable {
        var grantId: Int64
        var deviceId: String
        var staffRef: String
        /// `visit-plan` or `alarm`.
        var source: String
        var visitRef: String?
        var plannedStart: String?
        var plannedEnd: String?
        var validFrom: String?
        var validTo: String?
        var revokedAt: String?
        var alarmRaisedAt: String?
        /// Arrival as the lock saw it: the staff member's first unlock inside the grant.
        var firstUnlock: String?
        /// Departure: the lock's last `locked` after the arrival, inside the grant.
        var lastLock: String?
        /// Alarm visits: seconds from the alarm to the first unlock.
        var arrivalSeconds: Double?
        var arrived: Bool

        init(_ visit: VisitRecord) {
            let format = { (micros: Int64?) in micros.map { RFC3339.format(micros: $0) } }
            grantId = visit.grantId
            deviceId = visit.deviceId
            staffRef = visit.staffRef
            source = visit.source.rawValue
            visitRef = visit.visitRef
            plannedStart = format(visit.plannedStartMicros)
            plannedEnd = format(visit.plannedEndMicros)
            validFrom = format(visit.validFromMicros)
            validTo = format(visit.validToMicros)
            revokedAt = format(visit.revokedAtMicros)
            alarmRaisedAt = format(visit.alarmRaisedAtMicros)
            firstUnlock = format(visit.firstUnlockMicros)
            lastLock = format(visit.lastLockMicros)
            arrivalSeconds = visit.arrivalSeconds
            arrived = visit.firstUnlockMicros != nil
        }
    }
}
