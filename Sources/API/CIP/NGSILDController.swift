import Access
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NGSILD
import NIOCore
import Telemetry

/// CIP tier reads: open data (class 1 only) as ETSI NGSI-LD (GS CIM 009 v1.8). Registered devices are Smart Data
/// Models `Device` entities (`urn:ngsi-ld:Device:<id>`); entities other city systems write keep their own ids and
/// types. Each open catalogue quantity is a Property under its NGSI-LD name. Reads only through
/// `OpenDataRepository`, whose every query is restricted to class 1.
struct NGSILDController<Context: ClientRequestContext> {
    let repository: any OpenDataRepository
    let vocabulary: OpenVocabulary
    let publicBaseURL: String?

    static var maxLimit: Int { 100 }
    static var maxOffset: Int { 10_000 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("entities", use: entities)
        routes.get("entities/:entityId", use: entity)
        routes.get("types", use: types)
        routes.get("types/:type", use: type)
        routes.get("attributes", use: attributes)
        routes.get("attributes/:attrId", use: attribute)
        routes.get("jsonldContexts", use: contexts)
        routes.get("jsonldContexts/:contextId", use: contextDocument)
        return routes
    }

    func ld(_ request: Request, body: JSON? = nil) throws -> LDRequest {
        try LDRequest(request, vocabulary: vocabulary, body: body, publicBaseURL: publicBaseURL)
    }

    /// `GET /ngsi-ld/v1/entities?type=&id=&q=&attrs=&georel=&geometry=&coordinates=&limit=&offset=&count=&options=`
    @Sendable func entities(_ request: Request, context: Context) async throws -> Response {
        let ld = try ld(request)
        let parameters = request.uri.queryParameters
        let selection = try EntitySelection(parameters, ld: ld, vocabulary: vocabulary, tenants: try LDTenant.read(request, context.client))
        let limit = try Self.number(parameters.get("limit"), name: "limit", default: 20, range: 0...Self.maxLimit)
        let offset = try Self.number(parameters.get("offset"), name: "offset", default: 0, range: 0...Self.maxOffset)
        let options = Self.options(parameters)
        let wantsCount = parameters.get("count") == "true" || options.contains("count")
        var headers = HTTPFields()
        var found: [OpenEntity] = []
        if let query = selection.query {
            if wantsCount { headers[NGSILDHeaders.resultsCount] = String(try await repository.count(query)) }
            found = try await repository.entities(query, offset: offset, limit: limit)
        } else if wantsCount {
            headers[NGSILDHeaders.resultsCount] = "0"
        }
        let values = try await repository.latest(deviceIDs: found.map(\.deviceID), quantities: selection.attributes)
        let representation = Representation(vocabulary: vocabulary, context: ld.context)
        let format = EntityFormat.from(options: options)
        let body = found.map { representation.entity($0, values, format: format, sysAttrs: options.contains("sysAttrs"),
                                                      includeLocation: selection.includesLocation) }
        if let links = Self.pageLinks(request, offset: offset, limit: limit, returned: found.count) {
            headers.append(HTTPField(name: HTTPField.Name("Link")!, value: links))
        }
        return ld.respond(.array(body), headers: headers)
    }

    /// `Link` headers to the next and previous pages (GS CIM 009 §6.3.x, pagination): next when the page is full,
    /// previous when it does not start at the first entity; the request's own query with another `offset`.
    static func pageLinks(_ request: Request, offset: Int, limit: Int, returned: Int) -> String? {
        guard limit > 0 else { return nil }
        func page(_ newOffset: Int) -> String {
            var items = (request.uri.query ?? "").split(separator: "&").filter { !$0.hasPrefix("offset=") }.map(String.init)
            items.append("offset=\(newOffset)")
            return request.uri.path + "?" + items.joined(separator: "&")
        }
        var links: [String] = []
        if offset > 0 { links.append("<\(page(max(0, offset - limit)))>; rel=\"prev\"; type=\"application/ld+json\"") }
        if returned == limit, offset + limit <= maxOffset { links.append("<\(page(offset + limit))>; rel=\"next\"; type=\"application/ld+json\"") }
        return links.isEmpty ? nil : links.joined(separator: ", ")
    }

    /// `GET /ngsi-ld/v1/entities/{entityId}?attrs=&options=`
    @Sendable func entity(_ request: Request, context: Context) async throws -> Response {
        let ld = try ld(request)
        let id = try Self.entityID(context)
        let parameters = request.uri.queryParameters
        let attributes = try EntitySelection.attributes(parameters.get("attrs"), ld: ld, vocabulary: vocabulary)
        guard let found = try await repository.entity(id: id, tenants: try LDTenant.read(request, context.client)) else {
            throw NGSILDFailure.notFound("no entity \(id)")
        }
        let values = try await repository.latest(deviceIDs: [found.deviceID], quantities: attributes.quantities)
        if parameters.get("attrs") != nil, values.isEmpty, !(attributes.includesLocation && found.location != nil) {
            throw NGSILDFailure.notFound("entity \(id) has none of the attributes asked for")
        }
        let options = Self.options(parameters)
        let body = Representation(vocabulary: vocabulary, context: ld.context)
            .entity(found, values, format: .from(options: options), sysAttrs: options.contains("sysAttrs"),
                    includeLocation: attributes.includesLocation)
        return ld.respond(body)
    }

    /// `GET /ngsi-ld/v1/types?details=`
    @Sendable func types(_ request: Request, context: Context) async throws -> Response {
        let ld = try ld(request)
        let (types, attributes) = try await repository.typesAndAttributes(tenants: try LDTenant.read(request, context.client))
        if request.uri.queryParameters.get("details") == "true" {
            return ld.respond(.array(types.keys.sorted().map { type in
                let names = attributes.filter { $0.value.contains(type) }.keys.compactMap { vocabulary.iri(quantityID: $0) }
                return ["id": .string(type), "type": "EntityType", "typeName": .string(ld.context.compact(type)),
                        "attributeNames": .array(names.map { .string(ld.context.compact($0)) }.sorted { $0.stringValue ?? "" < $1.stringValue ?? "" })]
            }))
        }
        return ld.respond(["id": "urn:ngsi-ld:EntityTypeList:cip-gateway", "type": "EntityTypeList",
                           "typeList": .array(types.keys.map { .string(ld.context.compact($0)) }.sorted { $0.stringValue ?? "" < $1.stringValue ?? "" })])
    }

    /// `GET /ngsi-ld/v1/types/{type}`: the type's entity count and attributes.
    @Sendable func type(_ request: Request, context: Context) async throws -> Response {
        let ld = try ld(request)
        let name = (context.parameters.get("type") ?? "").removingPercentEncoding ?? ""
        let iri = ld.context.expand(name)
        let (types, attributes) = try await repository.typesAndAttributes(tenants: try LDTenant.read(request, context.client))
        guard let count = types[iri] else { throw NGSILDFailure.notFound("no entities of type \(name)") }
        let details: [JSONValue] = attributes.filter { $0.value.contains(iri) }.keys.sorted().compactMap { quantity in
            vocabulary.iri(quantityID: quantity).map { attributeIRI in
                ["id": .string(attributeIRI), "type": "Attribute", "attributeName": .string(ld.context.compact(attributeIRI)),
                 "attributeTypes": ["Property"]]
            }
        }
        return ld.respond(["id": .string(iri), "type": "EntityTypeInfo", "typeName": .string(ld.context.compact(iri)),
                           "entityCount": .number(Double(count)), "attributeDetails": .array(details)])
    }

    /// `GET /ngsi-ld/v1/attributes?details=`
    @Sendable func attributes(_ request: Request, context: Context) async throws -> Response {
        let ld = try ld(request)
        let (_, attributes) = try await repository.typesAndAttributes(tenants: try LDTenant.read(request, context.client))
        let named = attributes.compactMap { quantity, types in vocabulary.iri(quantityID: quantity).map { ($0, types) } }
            .sorted { $0.0 < $1.0 }
        if request.uri.queryParameters.get("details") == "true" {
            return ld.respond(.array(named.map { iri, types in
                ["id": .string(iri), "type": "Attribute", "attributeName": .string(ld.context.compact(iri)),
                 "attributeTypes": ["Property"], "typeNames": .array(types.sorted().map { .string(ld.context.compact($0)) })]
            }))
        }
        return ld.respond(["id": "urn:ngsi-ld:AttributeList:cip-gateway", "type": "AttributeList",
                           "attributeList": .array(named.map { .string(ld.context.compact($0.0)) })])
    }

    /// `GET /ngsi-ld/v1/attributes/{attrId}`
    @Sendable func attribute(_ request: Request, context: Context) async throws -> Response {
        let ld = try ld(request)
        let name = (context.parameters.get("attrId") ?? "").removingPercentEncoding ?? ""
        let iri = ld.context.expand(name)
        let (_, attributes) = try await repository.typesAndAttributes(tenants: try LDTenant.read(request, context.client))
        guard let quantity = vocabulary.openQuantity(iri: iri), let types = attributes[quantity.id] else {
            throw NGSILDFailure.notFound("no attribute \(name)")
        }
        return ld.respond(["id": .string(iri), "type": "Attribute", "attributeName": .string(ld.context.compact(iri)),
                           "attributeTypes": ["Property"], "typeNames": .array(types.sorted().map { .string(ld.context.compact($0)) })])
    }

    /// `GET /ngsi-ld/v1/jsonldContexts`: the contexts this gateway serves (no token: JSON-LD processors fetch them).
    @Sendable func contexts(_ request: Request, context: Context) async throws -> Response {
        let base = publicBaseURL ?? LDRequest.baseURL(from: request)
        let list: JSONValue = .array([LDRequest.coreContextName, LDRequest.cityContextName].map { .string(base + LDRequest.contextsPath + $0) })
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: list.bytes)))
    }

    /// `GET /ngsi-ld/v1/jsonldContexts/{contextId}`: the core context (the terms this gateway speaks) or the city's
    /// (its quantities and entity types, importing the core).
    @Sendable func contextDocument(_ request: Request, context: Context) async throws -> Response {
        let base = publicBaseURL ?? LDRequest.baseURL(from: request)
        let document: String
        switch context.parameters.get("contextId") {
        case LDRequest.coreContextName: document = LDContext.core.document()
        case LDRequest.cityContextName: document = vocabulary.cityTerms.document(importing: [base + LDRequest.contextsPath + LDRequest.coreContextName])
        default: throw NGSILDFailure.notFound("no context \(context.parameters.get("contextId") ?? ""); see /ngsi-ld/v1/jsonldContexts")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/ld+json"
        headers[.cacheControl] = "public, max-age=3600"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    // MARK: - Parameters

    /// `options` (a comma-separated list; `format` of NGSI-LD 1.8 counts as one more option).
    static func options(_ parameters: QueryParameters) -> [String] {
        (parameters.get("options").map { $0.split(separator: ",").map(String.init) } ?? []) + (parameters.get("format").map { [$0] } ?? [])
    }

    static func entityID(_ context: Context) throws -> String {
        try uriParameter("entityId", context, what: "an entity id (a URI, e.g. urn:ngsi-ld:Device:<device id>)")
    }

    /// A path parameter that is a URI (an entity's or a subscription's id), percent-decoded, at most 256 characters.
    static func uriParameter(_ name: String, _ context: Context, what: String) throws -> String {
        let raw = (context.parameters.get(name) ?? "").removingPercentEncoding ?? ""
        guard raw.count <= 256, LDContext.isAbsoluteIRI(raw) else {
            throw NGSILDFailure.badRequest("\(raw.prefix(64)) is not \(what)")
        }
        return raw
    }

    static func number(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            if let number = Int(text), number > range.upperBound, name == "limit" {
                throw NGSILDFailure(.tooManyResults, "limit must be at most \(range.upperBound)")
            }
            throw NGSILDFailure.badRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}

enum NGSILDHeaders {
    static let resultsCount = HTTPField.Name("NGSILD-Results-Count")!
}

/// Which entities a query selects (`type`, `id`, `q`, `attrs`, geo-query), in catalogue terms: nil `query` when the
/// query can match nothing here (a type or attribute this tier does not have), so no database is asked.
struct EntitySelection {
    var query: OpenEntityQuery?
    /// Catalogue quantities to show; nil: all open ones.
    var attributes: [String]?
    var includesLocation: Bool

    init(_ parameters: QueryParameters, ld: LDRequest, vocabulary: OpenVocabulary, tenants: [String]?) throws {
        let types = parameters.get("type").map { $0.split(separator: ",").map { ld.context.expand(String($0)) } }
        let ids = parameters.get("id").map { $0.split(separator: ",").map(String.init) }
        let projection = try Self.attributes(parameters.get("attrs"), ld: ld, vocabulary: vocabulary)
        let geo = try GeoQuery.filter(georel: parameters.get("georel"), geometry: parameters.get("geometry"),
                                      coordinates: parameters.get("coordinates"), geoproperty: parameters.get("geoproperty"))
        if parameters.get("idPattern") != nil {
            throw NGSILDFailure(.operationNotSupported, "idPattern is not supported; select entities by type, id, q or a geo-query")
        }
        guard types != nil || ids != nil || parameters.get("q") != nil || parameters.get("attrs") != nil || geo != nil else {
            throw NGSILDFailure.badRequest("give type, id, q, attrs or a geo-query: a query over every entity is refused")
        }
        if let types, types.count > 20 { throw NGSILDFailure.badRequest("at most 20 types") }
        if let ids, ids.count > 100 || ids.contains(where: { !LDContext.isAbsoluteIRI($0) }) {
            throw NGSILDFailure.badRequest("id: at most 100 entity ids, each a URI")
        }
        attributes = projection.quantities
        includesLocation = projection.includesLocation
        var conditions: [OpenValueCondition] = []
        var satisfiable = true
        if let q = parameters.get("q") {
            for term in try QueryTerm.parse(q) {
                let iri = ld.context.expand(term.attribute)
                guard let quantity = vocabulary.openQuantity(iri: iri) else {
                    satisfiable = false  // an attribute this tier does not have: nothing matches (GS CIM 009 §4.9)
                    continue
                }
                guard let condition = term.conditions(quantity: quantity.id) else {
                    throw NGSILDFailure(.operationNotSupported, "q: \(term.attribute): a list of values after == and a range after != are not supported")
                }
                conditions.append(contentsOf: condition)
            }
        }
        if projection.quantities?.isEmpty == true && !projection.includesLocation { satisfiable = false }
        query = satisfiable ? OpenEntityQuery(types: types, ids: ids, conditions: conditions, geo: geo, tenants: tenants) : nil
    }

    /// `attrs`: names under the context; the catalogue's open quantities among them (and whether `location` is).
    static func attributes(_ text: String?, ld: LDRequest, vocabulary: OpenVocabulary) throws -> (quantities: [String]?, includesLocation: Bool) {
        guard let text else { return (nil, true) }
        let names = text.split(separator: ",").map(String.init)
        guard names.count <= 64 else { throw NGSILDFailure.badRequest("attrs: at most 64 attributes") }
        var quantities: [String] = []
        var location = false
        for name in names {
            guard !ld.context.isKeyword(name) else { throw NGSILDFailure.badRequest("attrs: \(name) names a JSON-LD keyword, not an attribute") }
            let iri = ld.context.expand(name)
            if iri == OpenVocabulary.location { location = true; continue }
            if let quantity = vocabulary.openQuantity(iri: iri) { quantities.append(quantity.id) }
        }
        return (quantities, location)
    }
}
