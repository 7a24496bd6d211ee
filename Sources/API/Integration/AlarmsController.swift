import Access
import Alarms
import Foundation
import Hummingbird
import Locks
import Models
import Registry
import HTTPTypes
import NIOCore
import ServiceLifecycle
import Synchronization

/// Integration tier: the alarm team's alarms: the queue, one alarm with its timeline and context, acknowledge and
/// resolve, figures, and a live stream of every change (Server-Sent Events, resumable with `Last-Event-ID`).
struct AlarmsController<Context: ClientRequestContext> {
    let repository: any AlarmRepository
    let feed: AlarmFeed?
    let catalogue: Catalogue
    /// Alarm visits: the responders' lock grants (nil where the lock side does not run: no responders then), and
    /// where the care recipient's locks are found.
    var grants: (any GrantRepository)? = nil
    var locks: LockDirectory? = nil
    /// How often an open stream re-checks its token: a revoked or rotated token ends the stream within this
    /// plus the authenticator's cache time.
    var recheckInterval: Duration = .seconds(1)
    /// A write to the client that has not completed after this long ends the stream (a stalled consumer).
    var stallLimit: Duration = .seconds(30)

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("alarms", use: list)
        routes.get("alarms/stream", use: stream)
        routes.get("alarms/stats", use: stats)
        routes.get("alarms/:alarmId", use: show)
        routes.post("alarms/:alarmId/acknowledge", use: acknowledge)
        routes.post("alarms/:alarmId/resolve", use: resolve)
        routes.post("alarms/:alarmId/responder", use: assignResponder)
        return routes
    }

    /// `GET /integration/v1/alarms?state=&priority=&type=&tenant=&deviceId=&careRecipientRef=&from=&to=&limit=&cursor=`
    @Sendable func list(_ request: Request, context: Context) async throws -> Page<AlarmBody> {
        let reader = QueryReader(request)
        var query = AlarmQuery()
        if let states = try reader.string("state", maxLength: 64) {
            query.states = try states.split(separator: ",").map { text in
                guard let state = AlarmState(rawValue: String(text)) else {
                    throw Problem.badParameter("state", "state must be a comma-separated list of open, acknowledged, resolved, cancelled")
                }
                return state
            }
        }
        query.priority = try reader.string("priority", maxLength: 1).map { text in
            guard let priority = Int(text), AlarmSpec.priorities.contains(priority) else {
                throw Problem.badParameter("priority", "priority must be a whole number from 1 to 5")
            }
            return priority
        }
        query.type = try reader.string("type", maxLength: 64)
        query.tenant = try reader.string("tenant", maxLength: 128)
        query.deviceId = try reader.string("deviceId", maxLength: 128).map { id in
            guard DeviceID.isValid(id) else {
                throw Problem.badParameter("deviceId", "device id must be 1 to 128 characters of A-Z a-z 0-9 - _ . :")
            }
            return id
        }
        query.careRecipientRef = try reader.string("careRecipientRef", maxLength: 128)
        query.fromMicros = try reader.time("from")
        query.toMicros = try reader.time("to")
        if let from = query.fromMicros, let to = query.toMicros, from >= to {
            throw Problem.badParameter("to", "to must be later than from")
        }
        let limit = try reader.limit(default: 100, max: 1_000)
        query.limit = limit + 1
        query.after = try reader.string("cursor", maxLength: 1024).map(Cursor.decodeAlarm)
        query.tenants = context.scope.tenants
        query.maxConfidentiality = context.scope.clearance
        let alarms = try await repository.list(query)
        let page = alarms.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: page.map(\.confidentiality).max() ?? 1,
                                subjects: page.map(\.deviceId))
        let next = alarms.count > limit ? page.last.map {
            Cursor.encodeAlarm(AlarmCursor(priority: $0.priority, raisedAtMicros: $0.raisedAtMicros, id: $0.id))
        } : nil
        let visits = try await responderGrants(Array(page), clearance: context.scope.clearance)
        return Page(items: page.map { AlarmBody($0, clearance: context.scope.clearance, grants: visits[$0.id] ?? []) }, nextCursor: next)
    }

    /// `GET /integration/v1/alarms/{id}`: the alarm, its whole timeline, the device and what it last reported.
    @Sendable func show(_ request: Request, context: Context) async throws -> AlarmDetailBody {
        let id = try alarmID(context)
        guard let found = try await repository.alarm(id), context.scope.sees(found.alarm) else {
            throw Problem.notFound("no alarm \(id)")
        }
        let careRef = context.scope.clearance >= 3 ? found.context.careRecipientRef : nil
        let visits = try await responderGrants([found.alarm], clearance: context.scope.clearance)
        context.audit?.returned(records: 1, dataClass: found.alarm.confidentiality,
                                subjects: [found.alarm.deviceId] + (careRef.map { [$0] } ?? []))
        return AlarmDetailBody(found.alarm, timeline: found.timeline, context: found.context, clearance: context.scope.clearance,
                               grants: visits[found.alarm.id] ?? [])
    }

    struct Acknowledgement: Decodable {
        var `operator`: String
        /// An alarm visit: the staff member sent (pseudonymous reference), who gets the care recipient's locks.
        var responder: String?
    }

    struct ResponderRequest: Decodable {
        var `operator`: String
        var responder: String
    }

    struct Resolution: Decodable {
        var `operator`: String
        var outcome: String
        var note: String?
    }

    /// `POST /integration/v1/alarms/{id}/acknowledge` with `{"operator": "..."}`.
    @Sendable func acknowledge(_ request: Request, context: Context) async throws -> AlarmBody {
        let id = try alarmID(context)
        let body: Acknowledgement = try await decode(request, example: #"{"operator": "op-17", "responder": "staff-7"}"#)
        try checkOperator(body.operator)
        guard let responder = body.responder else {
            return try await apply([.acknowledge(operator: body.operator)], to: id, context)
        }
        // The acknowledgement and the grants commit together: a refused acknowledgement grants nothing.
        let assignment = try await assignment(of: responder, toAlarm: id, context)
        return try await apply([.acknowledge(operator: body.operator), .assignResponder(operator: body.operator, assignment)],
                               to: id, context)
    }

    /// `POST /integration/v1/alarms/{id}/responder` with `{"operator": "...", "responder": "..."}`: sends a responder
    /// to an acknowledged alarm, or another one instead (the previous one's alarm grants end now).
    @Sendable func assignResponder(_ request: Request, context: Context) async throws -> AlarmBody {
        let id = try alarmID(context)
        let body: ResponderRequest = try await decode(request, example: #"{"operator": "op-17", "responder": "staff-7"}"#)
        try checkOperator(body.operator)
        let assignment = try await assignment(of: body.responder, toAlarm: id, context)
        return try await apply([.assignResponder(operator: body.operator, assignment)], to: id, context)
    }

    /// Validates a responder and finds what they may open: the `active` locks of the alarm's device's care recipient
    /// in that device's tenant (the registry's, now).
    private func assignment(of responder: String, toAlarm id: Int64, _ context: Context) async throws -> ResponderAssignment {
        if let problem = PseudonymousReference.problem(responder) { throw Problem.badRequest("responder \(problem)") }
        // A responder is a staff reference and gets lock grants: both class 3.
        guard context.scope.clearance >= 3 else {
            throw Problem.forbidden("a responder (staff reference, lock grants) is class 3; this client is cleared for class \(context.scope.clearance)")
        }
        guard let locks else { throw Problem.unavailable("alarm visits are not available: the lock side does not run") }
        guard let found = try await repository.alarm(id), context.scope.sees(found.alarm) else {
            throw Problem.notFound("no alarm \(id)")
        }
        // Only a care alarm sends someone into a home: a low battery or an offline device opens no door.
        guard found.alarm.kind == "care" else {
            throw Problem.conflict("alarm \(id) is a \(found.alarm.kind) alarm: only care alarms send a responder into the home")
        }
        guard let device = try await locks.devices.device(found.alarm.deviceId), let recipient = device.careRecipientRef else {
            return ResponderAssignment(responder: responder, lockIds: [],
                                       noLockReason: "the alarm's device \(found.alarm.deviceId) has no care recipient")
        }
        // Only the alarm's own tenant: the same care-recipient reference in another tenant is another person.
        let lockIds = try await locks.locks(tenants: [device.tenant], careRecipientRef: recipient)
            .filter { $0.tenant == device.tenant && $0.lifecycleState == .active }.map(\.deviceId)
        return ResponderAssignment(responder: responder, lockIds: lockIds,
                                   noLockReason: lockIds.isEmpty ? "the care recipient has no active lock" : nil)
    }

    /// `POST /integration/v1/alarms/{id}/resolve` with `{"operator": "...", "outcome": "...", "note": "..."}`;
    /// the outcome is one of the catalogue's.
    @Sendable func resolve(_ request: Request, context: Context) async throws -> AlarmBody {
        let id = try alarmID(context)
        let body: Resolution = try await decode(request, example: #"{"operator": "op-17", "outcome": "visit_made", "note": "..."}"#)
        try checkOperator(body.operator)
        guard catalogue.outcome(body.outcome) != nil else {
            throw Problem.badRequest("outcome must be one of \(catalogue.outcomes.map(\.id).joined(separator: ", "))")
        }
        if let note = body.note, note.count > 2_000 { throw Problem.badRequest("note is longer than 2000 characters") }
        return try await apply([.resolve(operator: body.operator, outcome: body.outcome, note: body.note)], to: id, context)
    }

    /// `GET /integration/v1/alarms/stats?from=&to=` (default: the last 24 hours).
    @Sendable func stats(_ request: Request, context: Context) async throws -> AlarmStatsBody {
        let reader = QueryReader(request)
        let to = try reader.time("to") ?? Int64(Date().timeIntervalSince1970 * 1e6)
        let from = try reader.time("from") ?? to - 86_400_000_000
        guard from < to else { throw Problem.badParameter("to", "to must be later than from") }
        // Counted within the client's scope, like the list: a count is a read of the alarms it counts.
        let scope = context.scope
        let stats = try await repository.stats(fromMicros: from, toMicros: to, tenants: scope.tenants,
                                               maxConfidentiality: scope.clearance)
        return AlarmStatsBody(stats, from: from, to: to)
    }

    /// `GET /integration/v1/alarms/stream`: every alarm change as a Server-Sent Event whose id is the change id.
    /// With `Last-Event-ID` (header, or `lastEventId` in the query) the stream first replays every change after
    /// it, in order, then continues live: no gaps, no duplicates, also across a gateway restart.
    @Sendable func stream(_ request: Request, context: Context) async throws -> Response {
        guard let feed else { throw Problem.unavailable("the alarm stream is not running") }
        let queryLastEvent = try QueryReader(request).string("lastEventId", maxLength: 20)
        let lastEventText = request.headers[HTTPTypes.HTTPField.Name("Last-Event-ID")!] ?? queryLastEvent
        let lastEvent: Int64?
        if let lastEventText {
            guard let value = Int64(lastEventText), value >= 0 else {
                throw Problem.badParameter("Last-Event-ID", "Last-Event-ID must be the id of an event of this stream")
            }
            lastEvent = value
        } else {
            lastEvent = nil
        }
        let repository = self.repository
        let scope = context.scope
        let visitGrants = scope.clearance >= 3 ? grants : nil
        let access = context.streamAccess
        let recheckInterval = self.recheckInterval
        let stallLimit = self.stallLimit
        // The stream carries alarms up to the client's clearance from now on: audited when it opens, and each
        // alarm sent is audited as it goes (below).
        context.audit?.returned(records: 0, dataClass: scope.clearance, subjects: [])
        let (head, items) = feed.subscribe()
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // Without a Last-Event-ID the stream starts now.
            var last = lastEvent ?? head ?? 0
            try await writer.write(ByteBuffer(string: "retry: 1000\n: alarm stream from \(last)\n\n"))
            // Catch up from the table to where the live feed began.
            while let head, last < head {
                let rows = try await repository.changes(after: last, limit: 500)
                guard !rows.isEmpty else { break }
                for row in rows where row.change.id <= head {
                    if scope.sees(row.alarm) {
                        let shown = try await Self.responderGrants(of: [row.alarm], from: visitGrants)
                        // Audited before it is sent; without its line the stream ends.
                        if let access, !(await access.audit(1, Self.sentClass(row.alarm, shown[row.alarm.id]), [row.alarm.deviceId])) {
                            throw StreamEnd.auditUnavailable
                        }
                        try await writer.write(ByteBuffer(string: AlarmEventBody.sse(row.change, row.alarm, clearance: scope.clearance,
                                                                                     grants: shown[row.alarm.id] ?? [])))
                    }
                    last = row.change.id
                }
                if rows.count < 500 || rows[rows.count - 1].change.id >= head { break }
            }
            // Live until the client goes, the feed drops it (too slow: see AlarmFeed.subscribe), its token stops
            // being valid, a write stalls, or the gateway shuts down (a graceful shutdown must not wait for streams).
            let live = LiveWriter(writer: writer, last: last)
            try? await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await item in items {
                            try Task.checkCancellation()
                            switch item {
                            case .change(let change, let alarm):
                                guard change.id > live.last else { continue }
                                if scope.sees(alarm) {
                                    let shown = try await Self.responderGrants(of: [alarm], from: visitGrants)
                                    if let access, !(await access.audit(1, Self.sentClass(alarm, shown[alarm.id]), [alarm.deviceId])) {
                                        throw StreamEnd.auditUnavailable
                                    }
                                    try await live.write(AlarmEventBody.sse(change, alarm, clearance: scope.clearance,
                                                                            grants: shown[alarm.id] ?? []))
                                }
                                live.last = change.id
                            case .keepAlive:
                                try await live.write(": keep-alive\n\n")
                            }
                        }
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: recheckInterval)
                            if let access, !(await access.isStillAuthorized()) { throw StreamEnd.tokenNoLongerValid }
                            if let started = live.writeStarted, ContinuousClock.now - started > stallLimit { throw StreamEnd.stalled }
                        }
                    }
                    // Whichever ends first ends both.
                    defer { group.cancelAll() }
                    try await group.next()
                }
            }
            try? await live.writer.finish(nil)
        })
    }

    /// The class of what is sent for an alarm: its own, or 3 when the responder's grants (class 3) go with it.
    static func sentClass(_ alarm: Alarm, _ grants: [AccessGrant]?) -> Int {
        (grants ?? []).isEmpty ? alarm.confidentiality : max(alarm.confidentiality, 3)
    }

    /// The current responders' grants of these alarms, when the client may see them (clearance 3).
    private func responderGrants(_ alarms: [Alarm], clearance: Int) async throws -> [Int64: [AccessGrant]] {
        try await Self.responderGrants(of: alarms, from: clearance >= 3 ? grants : nil)
    }

    static func responderGrants(of alarms: [Alarm], from grants: (any GrantRepository)?) async throws -> [Int64: [AccessGrant]] {
        let withResponder = alarms.filter { $0.responderRef != nil }
        guard let grants, !withResponder.isEmpty else { return [:] }
        let responders = Dictionary(withResponder.map { (String($0.id), $0.responderRef) }, uniquingKeysWith: { $1 })
        var byAlarm: [Int64: [AccessGrant]] = [:]
        for grant in try await grants.alarmGrants(alarmIds: withResponder.map(\.id)) {
            guard let ref = grant.visitRef, let id = Int64(ref), responders[ref] == grant.staffRef else { continue }
            byAlarm[id, default: []].append(grant)
        }
        return byAlarm
    }

    private func apply(_ actions: [AlarmAction], to id: Int64, _ context: Context) async throws -> AlarmBody {
        do {
            // An alarm outside the client's tenants or clearance does not exist for it.
            let scope = context.scope
            // The operator named in the body is recorded as the actor, the authenticated client beside it.
            guard let alarm = try await repository.apply(actions, to: id, client: context.client?.name,
                                                         visible: { scope.sees($0) }) else {
                throw Problem.notFound("no alarm \(id)")
            }
            let visits = try await responderGrants([alarm], clearance: scope.clearance)
            let shown = visits[alarm.id] ?? []
            context.audit?.returned(records: 1, dataClass: shown.isEmpty ? alarm.confidentiality : 3,
                                    subjects: [alarm.deviceId] + shown.map(\.deviceId))
            return AlarmBody(alarm, clearance: scope.clearance, grants: shown)
        } catch let conflict as AlarmConflict {
            throw Problem.conflict(conflict.description)
        }
    }

    private func decode<T: Decodable>(_ request: Request, example: String) async throws -> T {
        let buffer = try await request.body.collect(upTo: 64 << 10)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw Problem.badRequest("the body must be JSON like \(example)")
        }
    }

    private func checkOperator(_ id: String) throws {
        guard (1...128).contains(id.count), id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:@".contains($0) }) else {
            throw Problem.badRequest("operator must be 1 to 128 letters, digits or - _ . : @")
        }
    }

    private func alarmID(_ context: Context) throws -> Int64 {
        guard let text = context.parameters.get("alarmId"), let id = Int64(text), id > 0 else {
            throw Problem.badParameter("alarmId", "alarm id must be a positive whole number")
        }
        return id
    }
}

/// Why a live stream ended on the gateway's side.
private enum StreamEnd: Error {
    case tokenNoLongerValid
    case stalled
    /// The next alarm's audit line could not be stored: it is not sent.
    case auditUnavailable
}

/// The response writer, handed into the shutdown-cancellable loop of a stream (written by that one task only;
/// the watchdog reads `writeStarted`, hence the lock).
private final class LiveWriter: @unchecked Sendable {
    var writer: any ResponseBodyWriter
    var last: Int64
    private let started = Mutex<ContinuousClock.Instant?>(nil)

    init(writer: any ResponseBodyWriter, last: Int64) {
        self.writer = writer
        self.last = last
    }

    /// When the write in progress began; nil between writes.
    var writeStarted: ContinuousClock.Instant? { started.withLock { $0 } }

    func write(_ text: String) async throws {
        started.withLock { $0 = .now }
        defer { started.withLock { $0 = nil } }
        try await writer.write(ByteBuffer(string: text))
    }
}

struct AlarmBody: ResponseEncodable {
    var id: Int64
    var deviceId: String
    var type: String
    var kind: String
    var priority: Int
    var state: String
    var tenant: String?
    var raisedAt: String
    var openedAt: String
    var lastTriggeredAt: String
    var triggerCount: Int
    var acknowledgeBy: String
    var escalated: Bool
    var escalatedAt: String?
    var acknowledgedAt: String?
    var acknowledgedBy: String?
    var resolvedAt: String?
    var resolvedBy: String?
    var outcome: String?
    var note: String?
    var cancelledAt: String?
    var attributes: [String: String]
    var confidentiality: Int
    /// The responder sent (alarm visit) and their lock grants: class 3, left out below that clearance.
    var responder: ResponderBody?

    struct ResponderBody: Encodable {
        var staffRef: String
        var grants: [ResponderGrantBody]
    }

    struct ResponderGrantBody: Encodable {
        var id: Int64
        var lockId: String
        var validFrom: String?
        var validTo: String?
        /// When the grant ends or ended early: the resolution + margin (may be ahead), or a change of responder.
        var revokedAt: String?
    }

    init(_ alarm: Alarm, clearance: Int, grants: [AccessGrant]) {
        func time(_ micros: Int64?) -> String? { micros.map { RFC3339.format(micros: $0) } }
        id = alarm.id
        deviceId = alarm.deviceId
        type = alarm.type
        kind = alarm.kind
        priority = alarm.priority
        state = alarm.state.rawValue
        tenant = alarm.tenant
        raisedAt = RFC3339.format(micros: alarm.raisedAtMicros)
        openedAt = RFC3339.format(micros: alarm.openedAtMicros)
        lastTriggeredAt = RFC3339.format(micros: alarm.lastTriggeredAtMicros)
        triggerCount = alarm.triggerCount
        acknowledgeBy = RFC3339.format(micros: alarm.ackDeadlineMicros)
        escalated = alarm.escalatedAtMicros != nil
        escalatedAt = time(alarm.escalatedAtMicros)
        acknowledgedAt = time(alarm.acknowledgedAtMicros)
        acknowledgedBy = alarm.acknowledgedBy
        resolvedAt = time(alarm.resolvedAtMicros)
        resolvedBy = alarm.resolvedBy
        outcome = alarm.outcome
        note = alarm.note
        cancelledAt = time(alarm.cancelledAtMicros)
        attributes = (try? JSONDecoder().decode([String: String].self, from: Data(alarm.attributesJSON.utf8))) ?? [:]
        confidentiality = alarm.confidentiality
        if clearance >= 3, let staffRef = alarm.responderRef {
            responder = ResponderBody(staffRef: staffRef, grants: grants.map { grant in
                ResponderGrantBody(id: grant.id, lockId: grant.deviceId, validFrom: time(grant.validFromMicros),
                                   validTo: time(grant.validToMicros), revokedAt: time(grant.revokedAtMicros))
            })
        }
    }
}

struct AlarmChangeBody: Encodable {
    var id: Int64
    var change: String
    var actor: String
    /// The authenticated client that made the change (absent for the device's and the gateway's own changes).
    var client: String?
    var at: String
    var details: [String: String]

    /// Timeline details of alarm visits that are class 3 (the responder, their grants), left out below clearance 3.
    static let responderDetails: Set<String> = [
        "responder", "previousResponder", "locks", "grants", "grantedUntil", "noLockGranted", "grantsEnded", "grantsEndAt",
    ]

    init(_ change: AlarmChange, clearance: Int) {
        id = change.id
        self.change = change.change.rawValue
        actor = change.actor
        client = change.client
        at = RFC3339.format(micros: change.atMicros)
        // Details are flat JSON objects of strings and numbers; shown as text.
        let object = (try? JSONSerialization.jsonObject(with: Data(change.detailsJSON.utf8))) as? [String: Any] ?? [:]
        details = object.mapValues { "\($0)" }
        if clearance < 3 { details = details.filter { !Self.responderDetails.contains($0.key) } }
    }
}

struct AlarmDetailBody: ResponseEncodable {
    struct DeviceContext: Encodable {
        var deviceId: String
        var type: String?
        var placement: String?
        var careRecipientRef: String?
    }

    struct LatestValue: Encodable {
        var quantity: String
        var value: String
        var observedAt: String
    }

    var alarm: AlarmBody
    var timeline: [AlarmChangeBody]
    var device: DeviceContext
    /// The last known position (GPS alarms), lock and door state (locks), battery.
    var latest: [LatestValue]

    init(_ alarm: Alarm, timeline: [AlarmChange], context: AlarmContext, clearance: Int, grants: [AccessGrant]) {
        self.alarm = AlarmBody(alarm, clearance: clearance, grants: grants)
        self.timeline = timeline.map { AlarmChangeBody($0, clearance: clearance) }
        device = DeviceContext(deviceId: alarm.deviceId, type: context.deviceType, placement: context.placement,
                               careRecipientRef: clearance >= 3 ? context.careRecipientRef : nil)
        // Position, location, lock and door state are class 3: below that clearance nothing of them is shown.
        latest = clearance < 3 ? [] : context.latest.map { LatestValue(quantity: $0.quantity, value: $0.value, observedAt: RFC3339.format(micros: $0.observedAtMicros)) }
    }
}

/// One change on the stream: `id:` the change id, `event: alarm`, `data:` the change and the alarm as it is now.
struct AlarmEventBody: Encodable {
    var change: AlarmChangeBody
    var alarm: AlarmBody

    static func sse(_ change: AlarmChange, _ alarm: Alarm, clearance: Int, grants: [AccessGrant]) -> String {
        let body = AlarmEventBody(change: AlarmChangeBody(change, clearance: clearance),
                                  alarm: AlarmBody(alarm, clearance: clearance, grants: grants))
        let data = (try? BodyEncoder.bytes(of: body)) ?? Array("{}".utf8)
        return "id: \(change.id)\nevent: alarm\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
    }
}

struct AlarmStatsBody: ResponseEncodable {
    struct Group: Encodable {
        var type: String
        var priority: Int
        var count: Int
        var escalated: Int
    }

    var from: String
    var to: String
    var total: Int
    var escalated: Int
    var byTypeAndPriority: [Group]
    var acknowledgeSeconds: [String: Double]
    var resolveSeconds: [String: Double]

    init(_ stats: AlarmStats, from: Int64, to: Int64) {
        self.from = RFC3339.format(micros: from)
        self.to = RFC3339.format(micros: to)
        total = stats.total
        escalated = stats.escalated
        byTypeAndPriority = stats.groups.map { Group(type: $0.type, priority: $0.priority, count: $0.count, escalated: $0.escalated) }
        acknowledgeSeconds = ["median": stats.acknowledgeMedianSeconds, "p90": stats.acknowledgeP90Seconds].compactMapValues { $0 }
        resolveSeconds = ["median": stats.resolveMedianSeconds, "p90": stats.resolveP90Seconds].compactMapValues { $0 }
    }
}
