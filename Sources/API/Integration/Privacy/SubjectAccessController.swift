import Foundation
import Hummingbird
import Models
import Registry

/// Integration tier: everything the gateway holds about a care recipient, in one streamed JSON document (GDPR art.
/// 15): the devices linked to them now and before, and, within each link's window, the devices' values, events,
/// alarms with their timelines, lock grants and commands, and who read their data. Class 3, role privacy-officer,
/// tenant-scoped, itself audited (its line is stored before the first byte is sent).
struct SubjectAccessController<Context: ClientRequestContext> {
    let subjects: any SubjectAccessRepository
    let clock: @Sendable () -> Int64
    /// Rows read per page while streaming.
    var pageSize = 2_000

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("subjects/:careRecipientRef", use: export)
        return routes
    }

    @Sendable func export(_ request: Request, context: Context) async throws -> Response {
        guard context.scope.clearance >= 3 else {
            throw Problem.forbidden("a care recipient's data is class 3; this client is cleared for class \(context.scope.clearance)")
        }
        let recipient = context.parameters.get("careRecipientRef") ?? ""
        guard !recipient.isEmpty, recipient.utf8.count <= 64 else {
            throw Problem.badParameter("careRecipientRef", "careRecipientRef must be 1 to 64 bytes")
        }
        try LocksController<Context>.checkReference("careRecipientRef", recipient)
        let tenants = context.scope.tenants.map(Set.init)
        let links = try await subjects.links(careRecipientRef: recipient).filter { tenants?.contains($0.tenant) ?? true }
        // A client scoped to tenants sees audit entries about its tenants' devices, not every entry naming the person.
        let named: String? = tenants == nil ? recipient : nil
        context.audit?.returned(records: links.count, dataClass: 3, subjects: [recipient] + Set(links.map(\.deviceId)).sorted())

        let subjects = self.subjects
        let pageSize = self.pageSize
        let header = SubjectHeader(careRecipientRef: recipient, generatedAt: RFC3339.format(micros: clock(), fractionDigits: 3),
                                   links: links.map(SubjectHeader.Link.init))
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // The header object without its closing brace, then one array per section, then how it ended.
            var opening = try BodyEncoder.bytes(of: header)
            opening.removeLast()
            try await writer.write(ByteBuffer(bytes: opening))
            var failure: String?
            sections: for section in SubjectSection.allCases {
                try await writer.write(ByteBuffer(string: ",\"\(section.rawValue)\":["))
                var cursor: String?
                var first = true
                repeat {
                    let page: SubjectPage
                    do {
                        page = try await subjects.page(section, careRecipientRef: named, links: links, after: cursor, limit: pageSize)
                    } catch {
                        failure = "the export stopped while reading \(section.rawValue): \(error)"
                        try await writer.write(ByteBuffer(string: "]"))
                        break sections
                    }
                    if !page.items.isEmpty {
                        try await writer.write(ByteBuffer(string: (first ? "" : ",") + page.items.joined(separator: ",")))
                        first = false
                    }
                    cursor = page.next
                } while cursor != nil
                try await writer.write(ByteBuffer(string: "]"))
            }
            let ending = failure.map { ",\"complete\":false,\"error\":\(Self.quoted($0))}" } ?? ",\"complete\":true}"
            try await writer.write(ByteBuffer(string: ending))
            try await writer.finish(nil)
        })
    }

    static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        JSONValue.write(string: text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

struct SubjectHeader: Encodable {
    var careRecipientRef: String
    var generatedAt: String
    var links: [Link]

    struct Link: Encodable {
        var deviceId: String
        var deviceType: String
        var tenant: String
        var linkedAt: String
        /// Absent while the device is still linked.
        var unlinkedAt: String?

        init(_ link: CareRecipientLink) {
            deviceId = link.deviceId
            deviceType = link.deviceType
            tenant = link.tenant
            linkedAt = RFC3339.format(micros: link.linkedAtMicros)
            unlinkedAt = link.unlinkedAtMicros.map { RFC3339.format(micros: $0) }
        }
    }
}
