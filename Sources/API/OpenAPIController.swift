import Foundation
import Hummingbird

/// `GET /openapi.json`: the API's OpenAPI 3.1 document, kept in the repository (`Sources/API/openapi.json`).
struct OpenAPIController<Context: RequestContext> {
    /// The document as shipped with the binary.
    static func document() throws(Problem) -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = FileManager.default.contents(atPath: url.path) else {
            throw Problem(status: .internalServerError, type: "urn:cip:problem:internal", title: "Internal error",
                          detail: "openapi.json is missing from the gateway's resources")
        }
        return Array(data)
    }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("openapi.json") { request, _ in try shippedOpenAPIDocument.get().response(to: request) }
        return routes
    }
}

/// The OpenAPI document, read once and served from memory (it was read from disk on every request).
private let shippedOpenAPIDocument: Result<StaticDocument, Problem> = Result { () throws(Problem) in
    StaticDocument(bytes: try OpenAPIController<BasicRequestContext>.document())
}
