import Access
import Foundation
import Hummingbird
import Models

/// `GET /integration/v1/audit?client=&subject=&from=&to=&limit=&cursor=`: the audit trail for auditors, newest
/// first. Reading it is itself audited.
struct AuditController<Context: ClientRequestContext> {
    let trail: AuditTrail

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("audit", use: list)
        return routes
    }

    struct Entry: Encodable {
        var id: Int64
        var at: String
        var client: String
        var roles: String
        var method: String
        var endpoint: String
        var path: String
        var subjects: [String]
        var records: Int
        var dataClass: Int
        var status: Int
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Page<Entry> {
        let query = QueryReader(request)
        let client = try query.string("client", maxLength: 64)
        let subject = try query.string("subject", maxLength: 128)
        let from = try query.time("from")
        let to = try query.time("to")
        if let from, let to, from >= to { throw Problem.badParameter("to", "to must be later than from") }
        let limit = try query.limit(default: 100, max: 1_000)
        let before = try query.string("cursor", maxLength: 1024).map(Cursor.decodeDeadLetter)
        // The trail names subjects and what was read about them: an auditor reads it within its own scope.
        let scope = context.scope
        let rows = try await trail.query(client: client, subject: subject, fromMicros: from, toMicros: to,
                                         beforeID: before, limit: limit + 1, tenants: scope.tenants,
                                         maxClass: scope.clearance)
        let page = rows.prefix(limit)
        context.audit?.returned(records: page.count, dataClass: 3, subjects: page.flatMap(\.record.subjects))
        let next = rows.count > limit ? page.last.map { Cursor.encodeDeadLetter(id: $0.id) } : nil
        return Page(items: page.map { row in
            Entry(id: row.id, at: RFC3339.format(micros: row.record.atMicros), client: row.record.client,
                  roles: row.record.roles, method: row.record.method, endpoint: row.record.endpoint,
                  path: row.record.path, subjects: row.record.subjects, records: row.record.records,
                  dataClass: row.record.dataClass, status: row.record.status)
        }, nextCursor: next)
    }
}
