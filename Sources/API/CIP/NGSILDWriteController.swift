import Access
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NGSILD
import NIOCore
import Telemetry

/// CIP tier writes (GS CIM 009 §5.6): other city systems (building management, other platforms' environmental
/// sensors) push open data in. Every attribute maps by its expanded name to a class 1 catalogue quantity, is checked
/// like device data, and is stored as an observation of the external device behind the entity; anything else is
/// refused naming the attribute. Only clients with the `cip-writer` role, for their tenants; every write is audited.
struct NGSILDWriteController<Context: ClientRequestContext> {
    let writer: any OpenDataWriter
    /// To tell a missing entity (404) before a body is judged.
    let reader: any OpenDataRepository
    let vocabulary: OpenVocabulary
    let publicBaseURL: String?
    let clock: @Sendable () -> Int64

    static var maxBody: Int { 1 << 20 }
    static var maxBatch: Int { 1_000 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("entities", use: create)
        routes.delete("entities/:entityId", use: delete)
        routes.patch("entities/:entityId", use: update)
        routes.patch("entities/:entityId/attrs", use: update)
        routes.post("entities/:entityId/attrs", use: update)
        routes.post("entityOperations/create", use: batchCreate)
        routes.post("entityOperations/upsert", use: batchUpsert)
        routes.post("entityOperations/update", use: batchUpdate)
        routes.post("entityOperations/delete", use: batchDelete)
        return routes
    }

    /// The body as JSON and the context in force (`@context` of a JSON-LD body, else the `Link` header). A JSON-LD
    /// entity carries its `@context` and a JSON one does not (GS CIM 009 §6.3.5); in a batch each entity is judged
    /// on its own (`entityContext`).
    private func read(_ request: Request, batch: Bool = false) async throws -> (JSON, LDRequest) {
        let body = try await LDBody.read(request, maxBytes: Self.maxBody)
        if batch {
            guard let items = body.json.arrayValue else { throw NGSILDFailure.badRequest("a batch is a JSON array") }
            // Nothing of a batch is written when a member is not even an entity (or an id, for a delete).
            if let bad = items.firstIndex(where: { $0.objectValue == nil && $0.stringValue == nil }) {
                throw NGSILDFailure.badRequest("batch member \(bad) is \(items[bad].kindName), not an entity")
            }
        } else {
            try body.checkContext()
        }
        if body.isLD && request.headers[HTTPField.Name("Link")!].flatMap(LDRequest.contextURL(inLink:)) != nil {
            throw NGSILDFailure.badRequest("a JSON-LD body carries its @context; a Link header to a context is not allowed with it")
        }
        return (body.json, try LDRequest(request, vocabulary: vocabulary, body: body.isLD ? Self.firstContext(body.json) : nil, publicBaseURL: publicBaseURL))
    }

    /// The context of a JSON-LD body: its own, or (a batch) the first entity's; each entity of a batch is read with its own.
    private static func firstContext(_ body: JSON) -> JSON? {
        if body.objectValue != nil { return body }
        return body.arrayValue?.first?["@context"].map { ["@context": $0] }
    }

    /// The context of one entity of a batch: its own `@context` (JSON-LD, where it must have one) or the `Link`'s (JSON,
    /// where it must have none).
    private func entityContext(of entity: JSON, _ request: Request, _ fallback: LDRequest) throws -> LDContext {
        let isLD = (request.headers[.contentType] ?? "").hasPrefix("application/ld+json")
        guard isLD else {
            if entity["@context"] != nil { throw NGSILDFailure.badRequest("@context in an entity sent as application/json") }
            return fallback.context
        }
        guard entity["@context"] != nil else { throw NGSILDFailure.badRequest("an entity sent as application/ld+json carries its @context") }
        return try LDRequest(request, vocabulary: vocabulary, body: entity, publicBaseURL: publicBaseURL).context
    }

    /// `POST /ngsi-ld/v1/entities`: 201 with the entity's Location, or 409 AlreadyExists.
    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let (body, ld) = try await read(request)
        let tenant = try LDTenant.write(request, context.client)
        let now = clock()
        let input = try EntityInput.parse(body, context: ld.context, vocabulary: vocabulary, fragment: false, nowMicros: now)
        let id = input.id!
        switch try await writer.create(write(input, id: id), tenant: tenant, writer: writerName(context), atMicros: now) {
        case .created(let deviceID):
            context.audit?.wrote(records: input.values.count + 1, subjects: [deviceID])
            var headers = HTTPFields()
            headers[.location] = "/ngsi-ld/v1/entities/\(id)"
            return Response(status: .created, headers: headers)
        case .alreadyExists: throw NGSILDFailure(.alreadyExists, "an entity \(id) exists")
        case .updated, .notFound: throw NGSILDFailure(.internalError, "the entity could not be created")
        }
    }

    /// `PATCH /ngsi-ld/v1/entities/{id}/attrs` (and `POST .../attrs`, `PATCH .../{id}`): new values of existing or new
    /// attributes of an external entity; 204.
    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let id = try NGSILDController<Context>.entityID(context)
        let tenant = try LDTenant.write(request, context.client)
        guard let existing = try await reader.entity(id: id, tenants: [tenant]), existing.entityType != OpenEntity.deviceType else {
            throw NGSILDFailure.notFound("no entity \(id) written through this tier for tenant \(tenant)")
        }
        let (body, ld) = try await read(request)
        let now = clock()
        var input = try EntityInput.parse(body, context: ld.context, vocabulary: vocabulary, fragment: true, nowMicros: now)
        if let bodyID = input.id, bodyID != id { throw NGSILDFailure.badRequest("the body's id \(bodyID) is not the entity \(id) of the path") }
        input.type = nil
        switch try await writer.update(write(input, id: id), tenant: tenant, writer: writerName(context), atMicros: now) {
        case .updated(let deviceID):
            context.audit?.wrote(records: input.values.count, subjects: [deviceID])
            return Response(status: .noContent)
        default: throw NGSILDFailure.notFound("no entity \(id) written through this tier for tenant \(tenant)")
        }
    }

    /// `DELETE /ngsi-ld/v1/entities/{id}`: 204; its values stay until retention.
    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let id = try NGSILDController<Context>.entityID(context)
        let tenant = try LDTenant.write(request, context.client)
        if let type = request.uri.queryParameters.get("type") {
            // Only an entity of that type is deleted (GS CIM 009 §5.6.6).
            let ld = try LDRequest(request, vocabulary: vocabulary, publicBaseURL: publicBaseURL)
            guard try await reader.entity(id: id, tenants: [tenant])?.entityType == ld.context.expand(type) else {
                throw NGSILDFailure.notFound("no entity \(id) of type \(type) written through this tier for tenant \(tenant)")
            }
        }
        switch try await writer.delete(entityID: id, tenant: tenant, writer: writerName(context), atMicros: clock()) {
        case .updated(let deviceID):
            context.audit?.wrote(records: 1, subjects: [deviceID])
            return Response(status: .noContent)
        default: throw NGSILDFailure.notFound("no entity \(id) written through this tier for tenant \(tenant)")
        }
    }

    // MARK: - Batch operations (GS CIM 009 §5.6.7 to §5.6.10)

    enum BatchMode { case create, upsert, update }

    /// Each entity on its own: the ones that pass are stored, the others are named with their error (207).
    private func batch(_ request: Request, context: Context, mode: BatchMode) async throws -> Response {
        let (body, ld) = try await read(request, batch: true)
        let tenant = try LDTenant.write(request, context.client)
        guard let items = body.arrayValue, items.allSatisfy({ $0.objectValue != nil }) else {
            throw NGSILDFailure.badRequest("a batch is a JSON array of entities")
        }
        guard (1...Self.maxBatch).contains(items.count) else { throw NGSILDFailure.badRequest("a batch has 1 to \(Self.maxBatch) entities") }
        let now = clock()
        var created: [String] = []
        var succeeded: [String] = []
        var errors: [JSONValue] = []
        var devices: [String] = []
        var records = 0
        for item in items {
            let id = item["id"]?.stringValue ?? item["@id"]?.stringValue ?? ""
            do {
                let input = try EntityInput.parse(item, context: try entityContext(of: item, request, ld), vocabulary: vocabulary,
                                                  fragment: mode == .update, nowMicros: now)
                guard let entityID = input.id else { throw NGSILDFailure.badRequest("an entity needs an id") }
                var outcome: OpenWriteOutcome = .notFound
                if mode != .update {
                    outcome = try await writer.create(write(input, id: entityID), tenant: tenant, writer: writerName(context), atMicros: now)
                    if case .created = outcome { created.append(entityID) }
                }
                if mode == .update || (mode == .upsert && outcome == .alreadyExists) {
                    var fragment = input
                    fragment.type = nil
                    outcome = try await writer.update(write(fragment, id: entityID), tenant: tenant, writer: writerName(context), atMicros: now)
                }
                switch outcome {
                case .created(let device), .updated(let device):
                    succeeded.append(entityID)
                    devices.append(device)
                    records += input.values.count
                case .alreadyExists: throw NGSILDFailure(.alreadyExists, "an entity \(entityID) exists")
                case .notFound: throw NGSILDFailure.notFound("no entity \(entityID) written through this tier for tenant \(tenant)")
                }
            } catch let failure as NGSILDFailure {
                errors.append(Self.batchError(id, failure))
            } catch {
                // What is stored stays stored and audited; this entity and the rest are reported, not a 500.
                context.logger.warning("NGSI-LD batch: an entity could not be written", metadata: ["error": "\(error)"])
                errors.append(Self.batchError(id, NGSILDFailure(.internalError, "the entity could not be stored now; try it again")))
            }
        }
        if !devices.isEmpty { context.audit?.wrote(records: records, subjects: devices) }
        if !errors.isEmpty {
            return ld.respond(["success": .array(succeeded.map(JSONValue.string)), "errors": .array(errors)], status: HTTPResponse.Status(code: 207))
        }
        switch mode {
        case .create: return ld.respond(.array(created.map(JSONValue.string)), status: .created)
        case .upsert: return created.isEmpty ? Response(status: .noContent) : ld.respond(.array(created.map(JSONValue.string)), status: .created)
        case .update: return Response(status: .noContent)
        }
    }

    @Sendable func batchCreate(_ request: Request, context: Context) async throws -> Response { try await batch(request, context: context, mode: .create) }
    @Sendable func batchUpsert(_ request: Request, context: Context) async throws -> Response { try await batch(request, context: context, mode: .upsert) }
    @Sendable func batchUpdate(_ request: Request, context: Context) async throws -> Response { try await batch(request, context: context, mode: .update) }

    /// `POST /ngsi-ld/v1/entityOperations/delete` with an array of entity ids.
    @Sendable func batchDelete(_ request: Request, context: Context) async throws -> Response {
        let (body, ld) = try await read(request, batch: true)
        let tenant = try LDTenant.write(request, context.client)
        guard let items = body.arrayValue, (1...Self.maxBatch).contains(items.count) else {
            throw NGSILDFailure.badRequest("a delete batch is a JSON array of 1 to \(Self.maxBatch) entity ids")
        }
        var succeeded: [String] = []
        var errors: [JSONValue] = []
        var devices: [String] = []
        for item in items {
            let id = item.stringValue ?? ""
            guard LDContext.isAbsoluteIRI(id), id.count <= 256 else {
                errors.append(Self.batchError(id, .badRequest("\(id.prefix(64)) is not an entity id")))
                continue
            }
            if case .updated(let device) = try await writer.delete(entityID: id, tenant: tenant, writer: writerName(context), atMicros: clock()) {
                succeeded.append(id)
                devices.append(device)
            } else {
                errors.append(Self.batchError(id, .notFound("no entity \(id) written through this tier for tenant \(tenant)")))
            }
        }
        if !devices.isEmpty { context.audit?.wrote(records: devices.count, subjects: devices) }
        guard errors.isEmpty else {
            return ld.respond(["success": .array(succeeded.map(JSONValue.string)), "errors": .array(errors)], status: HTTPResponse.Status(code: 207))
        }
        return Response(status: .noContent)
    }

    // MARK: - Helpers

    private func write(_ input: EntityInput, id: String) -> OpenEntityWrite {
        OpenEntityWrite(entityID: id, entityType: input.type, location: input.location, values: input.values)
    }

    private func writerName(_ context: Context) -> String { context.client?.name ?? "anonymous" }

    static func batchError(_ id: String, _ failure: NGSILDFailure) -> JSONValue {
        ["entityId": .string(id), "error": ["type": .string(failure.kind.typeURI), "title": .string(failure.kind.rawValue),
                                             "detail": .string(failure.detail), "status": .number(Double(failure.kind.status))]]
    }
}
