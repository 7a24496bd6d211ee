import Access
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NGSILD
import NIOCore

/// The JSON-LD side of an NGSI-LD request (GS CIM 009 §6.3.5): the context in force, which the request names in a
/// `Link` header (JSON) or an `@context` member (JSON-LD), over the core and the city's terms; the tenant
/// (`NGSILD-Tenant`); and the representation the client accepts.
struct LDRequest {
    /// The gateway's own copies, at stable paths under the tier (GS CIM 009 §5.13: `/jsonldContexts/{id}`).
    static let contextsPath = "/ngsi-ld/v1/jsonldContexts/"
    static let coreContextName = "ngsi-ld-core-context-v1.8.jsonld"
    static let cityContextName = "cip-context.jsonld"
    static let linkRelation = "http://www.w3.org/ns/json-ld#context"

    /// The terms in force: core, then the city's, then the request's own.
    var context: LDContext
    /// The contexts the request named (echoed in responses, before the city context).
    var named: [String]
    /// Whether the answer is JSON-LD (`@context` in the body) rather than JSON (`Link` header).
    var wantsLD: Bool
    /// The absolute URL of the city context on this gateway.
    var cityContextURL: String

    /// Reads the request's context: the `Link` header (any type of body), or the `@context` of a JSON-LD body.
    init(_ request: Request, vocabulary: OpenVocabulary, body: JSON? = nil, publicBaseURL: String?) throws(NGSILDFailure) {
        let accept = request.headers[.accept] ?? "application/json"
        wantsLD = Self.accepts(accept, "application/ld+json") && !Self.prefers(accept, "application/json", over: "application/ld+json")
        guard wantsLD || Self.accepts(accept, "application/json") || accept.contains("*/*") || accept.isEmpty else {
            throw NGSILDFailure(.invalidRequest, "Accept: \(accept): this tier answers application/json or application/ld+json")
        }
        let base = publicBaseURL ?? Self.baseURL(from: request)
        cityContextURL = base + Self.contextsPath + Self.cityContextName
        context = vocabulary.context
        named = []
        let contentType = request.headers[.contentType] ?? ""
        if let body, contentType.hasPrefix("application/ld+json"), let inline = body["@context"] {
            try apply(inline, vocabulary: vocabulary)
        } else if let link = request.headers[HTTPField.Name("Link")!], let url = Self.contextURL(inLink: link) {
            try apply(.string(url), vocabulary: vocabulary)
        }
    }

    /// Only for errors where no request context can be worked out.
    private mutating func apply(_ value: JSON, vocabulary: OpenVocabulary) throws(NGSILDFailure) {
        switch value {
        case .string(let url):
            switch Self.known(url) {
            case .core: break
            case .city: context = context.merged(with: vocabulary.cityTerms)
            case nil:
                // Not LdContextNotAvailable (503): the gateway never fetches a context, so asking again cannot help.
                throw NGSILDFailure.badRequest("the context \(url.prefix(256)) is not one this gateway holds (it fetches none); use \(cityContextURL) (it imports the core context), the ETSI core context, or terms inline")
            }
            if !named.contains(url) && Self.known(url) != .core { named.append(url) }
        case .array(let items):
            guard items.count <= 8 else { throw .badRequest("@context: at most 8 entries") }
            for item in items { try apply(item, vocabulary: vocabulary) }
        case .object(let members):
            guard members.count <= 256 else { throw .badRequest("@context: at most 256 terms inline") }
            var terms: [String: String] = [:]
            for (term, definition) in members where !term.hasPrefix("@") {
                let iri = definition.stringValue ?? definition["@id"]?.stringValue
                guard let iri, !iri.isEmpty, iri.count <= 256, term.count <= 256 else {
                    throw .badRequest("@context: the term \(term.prefix(64)) needs an IRI of at most 256 characters")
                }
                terms[term] = iri.hasPrefix("@") ? iri : context.merged(with: LDContext(terms: terms)).expand(iri)
            }
            if let vocab = members["@vocab"]?.stringValue, vocab.isEmpty || vocab.count > 256 {
                throw .badRequest("@context: @vocab must be an IRI of at most 256 characters")
            }
            let vocabulary = members["@vocab"]?.stringValue.map { context.expand($0) } ?? context.vocabulary
            context = context.merged(with: LDContext(terms: terms, vocabulary: vocabulary))
        default:
            throw .badRequest("@context must be a URL, an object of terms, or a list of them")
        }
    }

    enum Known { case core, city }

    /// The contexts the gateway holds: the ETSI core context of any 1.x version and the gateway's own copies; the
    /// city context and the Smart Data Models context (whose names of this tier's attributes are the city's).
    static func known(_ url: String) -> Known? {
        if url.hasPrefix("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context") && url.hasSuffix(".jsonld") { return .core }
        if url.hasSuffix(contextsPath + coreContextName) { return .core }
        if url.hasSuffix(contextsPath + cityContextName) { return .city }
        if url == "https://smartdatamodels.org/context.jsonld" { return .city }
        return nil
    }

    /// The URL of a `Link` header whose relation is the JSON-LD context (others are not about the context: ignored).
    static func contextURL(inLink header: String) -> String? {
        for link in header.split(separator: ",") {
            let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
            let relation = parts.dropFirst().first { $0.hasPrefix("rel=") }?.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if relation == linkRelation { return String(target.dropFirst().dropLast()) }
        }
        return nil
    }

    static func accepts(_ accept: String, _ type: String) -> Bool {
        accept.split(separator: ",").contains { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) == type }
    }

    /// Whether `a` is listed before `b` (a client listing both prefers the first).
    static func prefers(_ accept: String, _ a: String, over b: String) -> Bool {
        let types = accept.split(separator: ",").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        guard let first = types.firstIndex(of: a), let second = types.firstIndex(of: b) else { return false }
        return first < second
    }

    /// `http://<Host>` from the request (a host name or address with an optional port; anything else: localhost).
    static func baseURL(from request: Request) -> String {
        // HTTP/1 requests carry the Host header as the request's authority.
        let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
        let valid = !host.isEmpty && host.count <= 255 && host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }
        return "http://" + (valid ? host : "localhost")
    }

    /// The contexts a response names: the request's own, then the city context (which imports the core).
    var responseContexts: [String] { named.filter { $0 != cityContextURL && Self.known($0) != .city } + [cityContextURL] }

    /// A response with `body`: JSON-LD with `@context` in each object, or JSON with the context in a `Link` header.
    func respond(_ body: JSONValue, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var payload = body
        let contextValue: JSONValue = responseContexts.count == 1 ? .string(responseContexts[0]) : .array(responseContexts.map(JSONValue.string))
        if wantsLD {
            func withContext(_ value: JSONValue) -> JSONValue {
                guard case .object(var object) = value else { return value }
                object["@context"] = contextValue
                return .object(object)
            }
            if case .array(let items) = body { payload = .array(items.map(withContext)) } else { payload = withContext(body) }
        }
        var headers = extra
        headers[.contentType] = wantsLD ? "application/ld+json" : "application/json"
        if !wantsLD {
            // Appended: a page's next and previous links may be there already.
            headers.append(HTTPField(name: HTTPField.Name("Link")!,
                                     value: "<\(responseContexts.last!)>; rel=\"\(Self.linkRelation)\"; type=\"application/ld+json\""))
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: payload.bytes)))
    }
}

/// A request body of the CIP tier: JSON or JSON-LD (anything else is 415), parsed strictly.
struct LDBody {
    var json: JSON
    var isLD: Bool

    static func read(_ request: Request, maxBytes: Int) async throws -> LDBody {
        let contentType = request.headers[.contentType] ?? ""
        let isLD = contentType.hasPrefix("application/ld+json")
        guard isLD || contentType.hasPrefix("application/json") else {
            throw Problem(status: .unsupportedMediaType, type: NGSILDFailure.Kind.invalidRequest.typeURI, title: "InvalidRequest",
                          detail: "Content-Type must be application/json or application/ld+json")
        }
        let buffer = try await request.body.collect(upTo: maxBytes)
        do {
            return LDBody(json: try JSON.parse(Array(buffer.readableBytesView)), isLD: isLD)
        } catch {
            throw NGSILDFailure(.invalidRequest, "the body is not JSON: \(error.description)")
        }
    }

    /// An object sent as JSON-LD carries its `@context`, one sent as JSON none (GS CIM 009 §6.3.5).
    func checkContext() throws(NGSILDFailure) {
        if !isLD && json["@context"] != nil {
            throw .badRequest("@context in a body sent as application/json: send it as application/ld+json, or give the context in a Link header")
        }
        if isLD && json.objectValue != nil && json["@context"] == nil {
            throw .badRequest("a body sent as application/ld+json carries its @context")
        }
    }
}

/// `NGSILD-Tenant` (GS CIM 009 §6.3.14) over the client's tenants: reads see the one named (when the client may) or
/// all of the client's; writes go to the one named, or to the client's only tenant.
enum LDTenant {
    static let header = HTTPField.Name("NGSILD-Tenant")!

    static func read(_ request: Request, _ client: ClientIdentity?) throws(NGSILDFailure) -> [String]? {
        guard let named = try named(request) else { return client?.tenants.map { $0.sorted() } }
        guard client?.sees(tenant: named) ?? true else {
            throw NGSILDFailure(.nonexistentTenant, "no tenant \(named) for this client")
        }
        return [named]
    }

    static func write(_ request: Request, _ client: ClientIdentity?) throws(NGSILDFailure) -> String {
        if let named = try named(request) {
            guard client?.sees(tenant: named) ?? true else { throw NGSILDFailure(.nonexistentTenant, "no tenant \(named) for this client") }
            return named
        }
        guard let tenants = client?.tenants, tenants.count == 1, let only = tenants.first else {
            throw .badRequest("name the tenant to write for in the NGSILD-Tenant header: this client writes for more than one")
        }
        return only
    }

    private static func named(_ request: Request) throws(NGSILDFailure) -> String? {
        guard let value = request.headers[header] else { return nil }
        guard (1...64).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw .badRequest("NGSILD-Tenant must be 1 to 64 letters, digits, '-', '_' or '.'")
        }
        return value
    }
}

/// A request's query parameters, as Hummingbird parses them.
typealias QueryParameters = Parameters
