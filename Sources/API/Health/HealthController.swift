import Hummingbird
import Models

/// What `/readyz` asks: each dependency says whether it is usable, and why not.
public struct ReadinessCheck: Sendable {
    public var name: String
    public var check: @Sendable () async -> String?

    /// `check` returns nil when ready, else the reason it is not.
    public init(name: String, check: @escaping @Sendable () async -> String?) {
        self.name = name
        self.check = check
    }
}

/// `/healthz` (the process answers), `/readyz` (database and broker usable), `/metrics` (Prometheus text).
struct HealthController<Context: RequestContext> {
    let readiness: [ReadinessCheck]
    /// Informational: a failed purge does not take the gateway out of service, it is reported here.
    let retention: (@Sendable () -> RetentionReport)?
    let metrics: @Sendable () -> [UInt8]

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("healthz") { _, _ in StatusBody(status: "ok", checks: [:], retention: nil) }
        routes.get("readyz", use: ready)
        // Load balancers probe with HEAD: the same status, no body.
        routes.head("healthz") { _, _ in HTTPResponse.Status.ok }
        routes.head("readyz") { request, context in try await ready(request, context: context).status }
        routes.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
        }
        return routes
    }

    @Sendable func ready(_ request: Request, context: Context) async throws -> EditedResponse<StatusBody> {
        var checks: [String: String] = [:]
        for item in readiness {
            checks[item.name] = await item.check() ?? "ok"
        }
        let ready = checks.values.allSatisfy { $0 == "ok" }
        return EditedResponse(status: ready ? .ok : .serviceUnavailable,
                              response: StatusBody(status: ready ? "ready" : "not ready", checks: checks, retention: retention?()))
    }
}

struct StatusBody: ResponseEncodable {
    var status: String
    var checks: [String: String]
    var retention: RetentionReport?
}
