import Foundation
import Hummingbird

/// `GET /openapi.json`: the API's OpenAPI 3.1 document, kept in the repository (`Sources/API/openapi.json`).
struct OpenAPIController<Context: RequestContext> {
    /// The document as shipped with the binary.
    static func document() throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = FileManager.default.contents(atPath: url.path) else {
            throw Problem(status: .internalServerError, type: "urn:cip:problem:internal", title: "Internal error",
                          detail: "openapi.json is missing from the gateway's resources")
        }
        return Array(data)
    }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("openapi.json") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try Self.document())))
        }
        return routes
    }
}
