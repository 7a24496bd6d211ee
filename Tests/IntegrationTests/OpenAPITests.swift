import API
import Access
import Alarms
import Foundation
import Locks
import Hummingbird
import HummingbirdTesting
import Postgres
import Registry
import SafeZones
import Storage
import Testing

extension IntegrationTests {
    /// The OpenAPI document in the repository describes exactly the routes the router has.
    @Suite(.serialized) struct OpenAPI {
        static func router() throws -> Router<AppRequestContext> {
            RouteAccess.router(pool: PostgresPool(url: TestStack.databaseURL, size: 1, logger: TestStack.logger), authenticator: nil)
        }

        /// `METHOD /path/{param}` for every operation of the document.
        static func documentedOperations(_ data: Data) throws -> Set<String> {
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            var operations: Set<String> = []
            for (path, item) in paths {
                for method in ["get", "put", "post", "delete", "patch", "head", "options"] where item[method] != nil {
                    operations.insert("\(method.uppercased()) \(path)")
                }
            }
            return operations
        }

        @Test("every route is documented and every documented route exists")
        func documentMatchesRouter() async throws {
            let router = try Self.router()
            try router.validate()
            let routed = Set(router.routes.map { route -> String in
                let path = route.path.description.split(separator: "/").map { component in
                    component.hasPrefix(":") ? "{\(component.dropFirst())}" : String(component)
                }.joined(separator: "/")
                return "\(route.method) /\(path)"
            })
            #expect(routed.count >= 28)
            let served = try await Application(router: router).test(.router) { client in
                try await client.execute(uri: "/openapi.json", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/json")
                    return Data(buffer: response.body)
                }
            }
            let documented = try Self.documentedOperations(served)
            #expect(routed.subtracting(documented).sorted() == [], "routes missing from openapi.json")
            #expect(documented.subtracting(routed).sorted() == [], "documented routes the router does not have")
        }
    }
}
