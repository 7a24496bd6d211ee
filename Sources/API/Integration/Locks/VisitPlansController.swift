import Access
import Foundation
import Hummingbird
import Locks
import Models
import Registry

/// Integration tier: the care-planning system sends a period's visits (CSV or JSON); each visit becomes a grant for
/// its staff member on the care recipient's lock(s), and the import replaces the visit-plan grants of that period.
struct VisitPlansController<Context: ClientRequestContext> {
    let grants: any GrantRepository
    let devices: any DeviceRepository
    let lockTypes: Set<String>

    static var defaultMarginMinutes: Int { 15 }
    static var maxMarginMinutes: Int { 240 }
    static var maxPeriodDays: Int64 { 31 }
    static var maxVisits: Int { 500_000 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("visit-plans", use: importPlan)
        return routes
    }

    struct PlanBody: Decodable {
        var visits: [VisitBody]
    }

    struct VisitBody: Decodable {
        var visitRef: String?
        var careRecipientRef: String?
        var staffRef: String?
        var plannedStart: String?
        var plannedEnd: String?
        var marginMinutes: Int?
    }

    /// `POST /integration/v1/visit-plans?from=&to=[&atomic=true]` with `text/csv` or JSON `{"visits": [...]}`.
    @Sendable func importPlan(_ request: Request, context: Context) async throws -> PlanReportBody {
        guard context.scope.clearance >= 3 else {
            throw Problem.forbidden("visit plans are class 3; this client is cleared for class \(context.scope.clearance)")
        }
        let query = QueryReader(request)
        guard let from = try query.time("from") else { throw Problem.badParameter("from", "from (the period's start) is required") }
        guard let to = try query.time("to") else { throw Problem.badParameter("to", "to (the period's end) is required") }
        guard to > from else { throw Problem.badParameter("to", "to must be later than from") }
        guard to - from <= Self.maxPeriodDays * 86_400_000_000 else {
            throw Problem.badParameter("to", "a plan covers at most \(Self.maxPeriodDays) days")
        }
        // Plans are for the near past (corrections) and the coming year, never centuries away.
        let now = systemMicros()
        guard from >= now - 366 * 86_400_000_000, to <= now + 397 * 86_400_000_000 else {
            throw Problem.badParameter("from", "a plan's period lies within a year before and after now")
        }
        let atomic = try query.flag("atomic") ?? false
        let clear = try query.flag("clear") ?? false
        let buffer = try await request.body.collect(upTo: 64 << 20)
        let bytes = Array(buffer: buffer)
        let isCSV = request.headers[.contentType]?.lowercased().hasPrefix("text/csv") == true
        let rows = try isCSV ? Self.csvRows(bytes) : Self.jsonRows(bytes)
        guard rows.count <= Self.maxVisits else { throw Problem.badRequest("a plan holds at most \(Self.maxVisits) visits") }

        // Validate each row; then resolve the care recipients' locks within the client's tenants.
        var rejected: [PlanRejectionBody] = []
        var visits: [PlannedVisit] = []
        var seen: [String: Int] = [:]
        for (line, row) in rows {
            do {
                let visit = try Self.validate(row, line: line, from: from, to: to)
                if let first = seen[visit.visitRef] {
                    rejected.append(PlanRejectionBody(line: line, visitRef: visit.visitRef,
                                                      reason: "visit \(visit.visitRef) appears twice (first on line \(first))"))
                } else {
                    seen[visit.visitRef] = line
                    visits.append(visit)
                }
            } catch {
                rejected.append(PlanRejectionBody(line: line, visitRef: row.visitRef.map { String($0.prefix(64)) }, reason: error.reason))
            }
        }
        let (locks, scopeLocks) = try await locksInScope(context.scope)
        var planned: [PlanGrantKey] = []
        var accepted: [PlannedVisitBody] = []
        for visit in visits {
            guard let lockIds = locks[visit.careRecipientRef], !lockIds.isEmpty else {
                rejected.append(PlanRejectionBody(line: visit.line, visitRef: visit.visitRef,
                                                  reason: "care recipient \(visit.careRecipientRef) has no lock in this client's tenants"))
                continue
            }
            planned += lockIds.map { PlanGrantKey(deviceId: $0, visit: visit) }
            accepted.append(PlannedVisitBody(line: visit.line, visitRef: visit.visitRef, locks: lockIds))
        }
        rejected.sort { $0.line < $1.line }
        // The audit entry names the care recipients whose doors the plan touches (resolved ones only, so that a
        // typo does not hide the entry from a tenant's auditor).
        let subjects = Array(Set(visits.map(\.careRecipientRef)).filter { locks[$0] != nil }).sorted()
        context.audit?.returned(records: rows.count, dataClass: 3, subjects: subjects)
        if atomic, !rejected.isEmpty {
            return PlanReportBody(from: from, to: to, atomic: true, applied: false, result: nil, visits: [], rejected: rejected)
        }
        // A plan of which nothing could be used would revoke the whole period: only when asked for in so many words.
        guard !planned.isEmpty || clear else {
            throw Problem.badRequest("the plan has no usable visit (\(rejected.count) rejected); nothing was changed. To revoke every visit-plan grant of the period, send an empty plan with clear=true")
        }
        // Rows the import could not use keep the grants of their visit: an unreadable row is not a dropped visit.
        let unread = Set(rejected.compactMap(\.visitRef))
        let result: PlanImportResult
        do {
            result = try await grants.replacePlan(planned, deviceIds: scopeLocks, fromMicros: from, toMicros: to,
                                                  unreadVisits: unread, by: context.client?.name ?? "api")
        } catch PlanImportError.importInProgress {
            throw Problem.conflict("another import of this client's plan is running; try again when it has finished")
        }
        return PlanReportBody(from: from, to: to, atomic: atomic, applied: true, result: result, visits: accepted,
                              rejected: rejected)
    }

    /// Care-recipient reference → the locks registered for them (not decommissioned) in the client's tenants;
    /// and every lock of those tenants, whatever its care recipient now, since the import replaces this source's
    /// grants on all of them (a lock whose care recipient changed loses the old recipient's planned visits).
    private func locksInScope(_ scope: Scope) async throws -> (byRecipient: [String: [String]], all: [String]) {
        var byRecipient: [String: [String]] = [:]
        var all: [String] = []
        for device in try await LockDirectory(devices: devices, lockTypes: lockTypes).locks(tenants: scope.tenants)
        where scope.sees(tenant: device.tenant) {
            all.append(device.deviceId)
            guard device.lifecycleState != .decommissioned, let recipient = device.careRecipientRef else { continue }
            byRecipient[recipient, default: []].append(device.deviceId)
        }
        return (byRecipient, all)
    }

    /// Why a row of a plan is refused (the report names it beside the row's line).
    struct RowRefusal: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    static func validate(_ row: VisitBody, line: Int, from: Int64, to: Int64) throws(RowRefusal) -> PlannedVisit {
        func reference(_ name: String, _ value: String?) throws(RowRefusal) -> String {
            guard let value, !value.isEmpty else { throw RowRefusal("\(name) is missing") }
            if let problem = PseudonymousReference.problem(value) { throw RowRefusal("\(name) \(problem)") }
            return value
        }
        func time(_ name: String, _ value: String?) throws(RowRefusal) -> Int64 {
            guard let value, !value.isEmpty else { throw RowRefusal("\(name) is missing") }
            guard let micros = RFC3339.micros(value) else { throw RowRefusal("\(name) \"\(value.prefix(40))\" is not an RFC 3339 time") }
            return micros
        }
        let visitRef = try reference("visitRef", row.visitRef)
        let recipient = try reference("careRecipientRef", row.careRecipientRef)
        let staff = try reference("staffRef", row.staffRef)
        let start = try time("plannedStart", row.plannedStart)
        let end = try time("plannedEnd", row.plannedEnd)
        guard end > start else { throw RowRefusal("plannedEnd must be later than plannedStart") }
        guard end - start <= 24 * 3_600_000_000 else { throw RowRefusal("a visit lasts at most 24 hours") }
        guard start >= from, start < to else { throw RowRefusal("plannedStart is outside the import's period") }
        let margin = row.marginMinutes ?? defaultMarginMinutes
        guard (0...maxMarginMinutes).contains(margin) else { throw RowRefusal("marginMinutes must be 0 to \(maxMarginMinutes)") }
        return PlannedVisit(line: line, visitRef: visitRef, careRecipientRef: recipient, staffRef: staff,
                            startMicros: start, endMicros: end, marginMinutes: margin)
    }

    static func jsonRows(_ bytes: [UInt8]) throws -> [(line: Int, row: VisitBody)] {
        do {
            // Rows are numbered from 1 in the order sent.
            return try JSONDecoder().decode(PlanBody.self, from: Data(bytes)).visits.enumerated().map { ($0.offset + 1, $0.element) }
        } catch {
            throw Problem.badRequest("the body must be JSON {\"visits\": [{\"visitRef\", \"careRecipientRef\", \"staffRef\", \"plannedStart\", \"plannedEnd\", \"marginMinutes\"?}]} or text/csv")
        }
    }

    /// CSV with a header naming the columns: `visit_ref,care_recipient_ref,staff_ref,planned_start,planned_end`
    /// and optionally `margin_minutes`, in any order. Fields are plain (references and times hold no commas or
    /// quotes); rows are numbered by their line in the file.
    static func csvRows(_ bytes: [UInt8]) throws -> [(line: Int, row: VisitBody)] {
        // Lines are split on bytes: "\r\n" is one Character in Swift, so a String split would not see CRLF lines.
        let newlines = bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        guard newlines <= maxVisits + 1 else { throw Problem.badRequest("a plan holds at most \(maxVisits) visits") }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }  // a byte-order mark, as Excel writes
        var lines: [String] = []
        lines.reserveCapacity(newlines + 1)
        for raw in body.split(separator: 0x0A, omittingEmptySubsequences: false) {
            let line = raw.last == 0x0D ? raw.dropLast() : raw
            guard let text = String(validating: line, as: UTF8.self) else {
                throw Problem.badRequest("the CSV file is not UTF-8 (line \(lines.count + 1))")
            }
            lines.append(text)
        }
        guard let header = lines.first, !header.isEmpty else { throw Problem.badRequest("the CSV file is empty") }
        let names = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard names.count <= 32 else { throw Problem.badRequest("the CSV header has more than 32 columns") }
        let required = ["visit_ref", "care_recipient_ref", "staff_ref", "planned_start", "planned_end"]
        for name in required where !names.contains(name) {
            throw Problem.badRequest("the CSV header lacks \(name) (it needs \(required.joined(separator: ",")), optionally margin_minutes)")
        }
        let column = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var rows: [(Int, VisitBody)] = []
        for (index, line) in lines.enumerated().dropFirst() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            func field(_ name: String) -> String? {
                column[name].flatMap { $0 < fields.count ? fields[$0] : nil }.flatMap { $0.isEmpty ? nil : $0 }
            }
            let margin = field("margin_minutes")
            rows.append((index + 1, VisitBody(
                visitRef: field("visit_ref"), careRecipientRef: field("care_recipient_ref"), staffRef: field("staff_ref"),
                plannedStart: field("planned_start"), plannedEnd: field("planned_end"),
                // An unreadable margin is out of range, so the row is refused rather than given the default.
                marginMinutes: margin.map { Int($0) ?? -1 })))
        }
        return rows
    }
}

struct PlannedVisitBody: Encodable, Sendable {
    var line: Int
    var visitRef: String
    var locks: [String]
}

struct PlanRejectionBody: Encodable, Sendable {
    var line: Int
    var visitRef: String?
    var reason: String
}

struct PlanReportBody: ResponseEncodable, Sendable {
    var from: String
    var to: String
    var atomic: Bool
    /// False when `atomic` and a row was rejected: nothing changed.
    var applied: Bool
    var created: Int
    var unchanged: Int
    var revoked: Int
    /// Planned grants not made again because someone revoked the same grant by hand.
    var heldRevoked: Int
    var visits: [PlannedVisitBody]
    var rejected: [PlanRejectionBody]

    init(from: Int64, to: Int64, atomic: Bool, applied: Bool, result: PlanImportResult?, visits: [PlannedVisitBody],
         rejected: [PlanRejectionBody]) {
        self.from = RFC3339.format(micros: from)
        self.to = RFC3339.format(micros: to)
        self.atomic = atomic
        self.applied = applied
        created = result?.created ?? 0
        unchanged = result?.unchanged ?? 0
        revoked = result?.revoked ?? 0
        heldRevoked = result?.heldRevoked ?? 0
        self.visits = visits
        self.rejected = rejected
    }
}
