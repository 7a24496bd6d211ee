import Access
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NIOCore
import Telemetry

/// CIP tier: open data (class 1 only) as ETSI NGSI-LD (GS CIM 009). Devices are Smart Data Models `Device`
/// entities (`urn:ngsi-ld:Device:<id>`); each open catalogue quantity is a Property under its NGSI-LD name.
/// Reads only through `OpenDataRepository`, whose every query is restricted to class 1.
struct NGSILDController<Context: ClientRequestContext> {
    let repository: any OpenDataRepository
    let catalogue: Catalogue
    /// The open quantities by NGSI-LD property name (worked out once, not per request).
    let openProperties: [String: Quantity]

    init(repository: any OpenDataRepository, catalogue: Catalogue) {
        self.repository = repository
        self.catalogue = catalogue
        var properties: [String: Quantity] = [:]
        for quantity in catalogue.quantities where quantity.classification.confidentiality.rawValue == 1 {
            properties[quantity.ngsiLd?.property ?? quantity.id] = quantity
        }
        openProperties = properties
    }

    static var coreContext: String { "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld" }
    static var entityType: String { "Device" }
    static var maxLimit: Int { 100 }
    static var maxOffset: Int { 10_000 }
    static var maxLastN: Int { 1_000 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("entities", use: entities)
        routes.get("entities/:entityId", use: entity)
        routes.get("types", use: types)
        routes.get("temporal/entities/:entityId", use: temporal)
        return routes
    }

    /// `GET /ngsi-ld/v1/entities?type=Device&q=&attrs=&limit=&offset=`
    @Sendable func entities(_ request: Request, context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        guard let type = query.get("type") ?? query.get("attrs").map({ _ in Self.entityType }) else {
            throw NGSILDError.badRequest("give type (Device) or attrs: a query over every entity is refused")
        }
        guard type == Self.entityType || type == "https://uri.fiware.org/ns/data-models#Device" else {
            return respond(.array([]), request)
        }
        let limit = try number(query.get("limit"), name: "limit", default: 20, range: 0...Self.maxLimit)
        let offset = try number(query.get("offset"), name: "offset", default: 0, range: 0...Self.maxOffset)
        let attrs = try attributes(query.get("attrs"))
        let conditions = try parseQ(query.get("q"))
        let ids = limit == 0 ? [] : try await repository.devices(conditions: conditions, tenants: context.scope.tenants,
                                                                 offset: offset, limit: limit)
        let values = try await repository.latest(deviceIDs: ids, quantities: attrs?.map(\.id))
        return respond(.array(ids.map { id in Self.entity(id, values.filter { $0.deviceID == id }, openProperties) }), request)
    }

    /// `GET /ngsi-ld/v1/entities/{id}`
    @Sendable func entity(_ request: Request, context: Context) async throws -> Response {
        let id = try deviceID(context)
        let attrs = try attributes(request.uri.queryParameters.get("attrs"))
        try await requireVisible(id, context)
        let values = try await repository.latest(deviceIDs: [id], quantities: attrs?.map(\.id))
        guard !values.isEmpty || attrs != nil else {
            throw NGSILDError.notFound("no entity urn:ngsi-ld:Device:\(id) with open data")
        }
        return respond(Self.entity(id, values, openProperties), request)
    }

    /// `GET /ngsi-ld/v1/types`
    @Sendable func types(_ request: Request, context: Context) async throws -> Response {
        let body: JSONValue = [
            "id": "urn:ngsi-ld:EntityTypeList:cip-gateway", "type": "EntityTypeList", "typeList": [.string(Self.entityType)],
        ]
        return respond(body, request)
    }

    /// `GET /ngsi-ld/v1/temporal/entities/{id}?timerel=&timeAt=&endTimeAt=&lastN=&attrs=`
    @Sendable func temporal(_ request: Request, context: Context) async throws -> Response {
        let id = try deviceID(context)
        let query = request.uri.queryParameters
        let attrs = try attributes(query.get("attrs"))
        let lastN = try number(query.get("lastN"), name: "lastN", default: 100, range: 1...Self.maxLastN)
        var from: Int64?
        var to: Int64?
        if let timerel = query.get("timerel") {
            guard let timeAt = query.get("timeAt").flatMap({ RFC3339.micros(String($0)) }) else {
                throw NGSILDError.badRequest("timerel needs timeAt (RFC 3339)")
            }
            switch timerel {
            case "before": to = timeAt
            case "after": from = timeAt
            case "between":
                guard let end = query.get("endTimeAt").flatMap({ RFC3339.micros(String($0)) }), end > timeAt else {
                    throw NGSILDError.badRequest("timerel=between needs endTimeAt (RFC 3339) after timeAt")
                }
                from = timeAt
                to = end
            default: throw NGSILDError.badRequest("timerel must be before, after or between")
            }
        }
        try await requireVisible(id, context)
        let values = try await repository.history(deviceID: id, quantities: attrs?.map(\.id), fromMicros: from,
                                                  toMicros: to, lastN: lastN)
        var body: [String: JSONValue] = ["id": .string("urn:ngsi-ld:Device:\(id)"), "type": .string(Self.entityType)]
        for (name, quantity) in openProperties {
            let instances = values.filter { $0.quantity == quantity.id }.map { Self.property($0, quantity) }
            if !instances.isEmpty { body[name] = .array(instances) }
        }
        return respond(.object(body), request)
    }

    // MARK: - Helpers

    static func entity(_ id: String, _ values: [OpenValue], _ properties: [String: Quantity]) -> JSONValue {
        var entity: [String: JSONValue] = ["id": .string("urn:ngsi-ld:Device:\(id)"), "type": .string(entityType)]
        for (name, quantity) in properties {
            if let value = values.first(where: { $0.quantity == quantity.id }) { entity[name] = property(value, quantity) }
        }
        return .object(entity)
    }

    static func property(_ value: OpenValue, _ quantity: Quantity) -> JSONValue {
        var property: [String: JSONValue] = ["type": "Property", "observedAt": .string(RFC3339.format(micros: value.observedAtMicros))]
        if let number = value.number { property["value"] = .number(number) }
        else if let text = value.text { property["value"] = .string(text) }
        else if let boolean = value.boolean { property["value"] = .bool(boolean) }
        if let unit = value.unit ?? quantity.unit, let code = unitCodes[unit] { property["unitCode"] = .string(code) }
        return .object(property)
    }

    /// UN/CEFACT common codes of the catalogue's open units.
    static var unitCodes: [String: String] { ["Cel": "CEL", "%RH": "P1", "%": "P1", "V": "VLT", "m": "MTR", "m/s": "MTS", "dBm": "2Q"] }

    /// JSON-LD: `application/ld+json` with `@context` in the body when asked for, else `application/json` with the
    /// context in a `Link` header.
    private func respond(_ body: JSONValue, _ request: Request) -> Response {
        let wantsLD = (request.headers[.accept] ?? "").contains("application/ld+json")
        var payload = body
        if wantsLD {
            func withContext(_ value: JSONValue) -> JSONValue {
                guard case .object(var object) = value else { return value }
                object["@context"] = .string(Self.coreContext)
                return .object(object)
            }
            if case .array(let entities) = body { payload = .array(entities.map(withContext)) } else { payload = withContext(body) }
        }
        let data = payload.bytes
        var headers = HTTPFields()
        headers[.contentType] = wantsLD ? "application/ld+json" : "application/json"
        if !wantsLD {
            headers[HTTPField.Name("Link")!] = "<\(Self.coreContext)>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func requireVisible(_ id: String, _ context: Context) async throws {
        guard let tenant = try await repository.tenant(of: id), context.scope.sees(tenant: tenant) else {
            throw NGSILDError.notFound("no entity urn:ngsi-ld:Device:\(id)")
        }
    }

    private func deviceID(_ context: Context) throws -> String {
        let raw = context.parameters.get("entityId") ?? ""
        let prefix = "urn:ngsi-ld:Device:"
        guard raw.hasPrefix(prefix) else { throw NGSILDError.badRequest("entity ids look like \(prefix)<device id>") }
        let id = String(raw.dropFirst(prefix.count))
        guard (1...128).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else {
            throw NGSILDError.badRequest("\(raw) is not a valid entity id")
        }
        return id
    }

    private func number(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw NGSILDError.badRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// `attrs`: NGSI-LD names of open properties; anything else is not an attribute of this facade.
    private func attributes(_ text: String?) throws -> [Quantity]? {
        guard let text else { return nil }
        return try text.split(separator: ",").map { name in
            guard let quantity = openProperties[String(name)] else {
                throw NGSILDError.badRequest("attrs: \(name) is not an attribute here; attributes: \(openProperties.keys.sorted().joined(separator: ", "))")
            }
            return quantity
        }
    }

    /// `q`: terms `attribute op value` joined by `;` (AND); op is ==, !=, >, >=, <, <=; value a number or a
    /// "quoted" text. Anything richer is refused with 400 rather than evaluated slowly.
    func parseQ(_ text: String?) throws -> [OpenValueCondition] {
        guard let text else { return [] }
        guard text.count <= 512 else { throw NGSILDError.badRequest("q is longer than 512 characters") }
        let terms = text.split(separator: ";")
        guard terms.count <= 5 else { throw NGSILDError.badRequest("q: at most 5 terms") }
        return try terms.map { term in
            for op in [OpenValueCondition.Operator.greaterOrEqual, .lessOrEqual, .equal, .notEqual, .greater, .less] {
                guard let range = term.range(of: op.rawValue) else { continue }
                let name = String(term[..<range.lowerBound])
                let literal = String(term[range.upperBound...])
                guard let quantity = openProperties[name] else {
                    throw NGSILDError.badRequest("q: \(name) is not an attribute here")
                }
                if let number = Double(literal), number.isFinite {
                    return OpenValueCondition(quantity: quantity.id, op: op, number: number, text: nil)
                }
                if literal.count >= 2, literal.hasPrefix("\""), literal.hasSuffix("\""), op == .equal || op == .notEqual {
                    return OpenValueCondition(quantity: quantity.id, op: op, number: nil, text: String(literal.dropFirst().dropLast()))
                }
                throw NGSILDError.badRequest("q: \(literal) must be a number, or a \"quoted\" text with == or !=")
            }
            throw NGSILDError.badRequest("q: \(term) is not attribute==value (or !=, >, >=, <, <=)")
        }
    }
}

/// Errors with the problem types of the NGSI-LD error catalogue.
enum NGSILDError {
    static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, type: "https://uri.etsi.org/ngsi-ld/errors/BadRequestData", title: "Bad request data", detail: detail)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, type: "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound", title: "Resource not found", detail: detail)
    }
}
