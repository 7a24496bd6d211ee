import Access
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Finds the client a bearer token belongs to.
public protocol ClientAuthenticator: Sendable {
    func identity(token: String) async throws -> ClientIdentity?
}

/// The clients of the database, with a short cache so that a request does not cost a lookup: a revoked or
/// rotated token stops working within `ttl` (5 s by default).
public final class CachingClientAuthenticator: ClientAuthenticator {
    private let store: ClientStore
    private let ttl: Duration
    private let cache = Mutex<[String: (identity: ClientIdentity?, until: ContinuousClock.Instant)]>([:])

    public init(store: ClientStore, ttl: Duration = .seconds(5)) {
        self.store = store
        self.ttl = ttl
    }

    public func identity(token: String) async throws -> ClientIdentity? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[token] }), cached.until > now { return cached.identity }
        let identity = try await store.identity(token: token)
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[token] = (identity, now + ttl)
        }
        return identity
    }
}

/// Authentication and role checks for every route, from one table (`AccessPolicy`): 401 without a valid token,
/// 403 with a valid token but not the role. The client is put in the request context for the routes.
///
/// Router middleware runs after the router resolved the path, so the decision is taken on the route template the
/// router matched (`context.endpointPath`), the same one whose handler runs: `//iot/v1/devices` or
/// `/iot/v1/devices/` get exactly the decision of `/iot/v1/devices`. A matched route without a policy entry is
/// refused (403). No match at all (an unknown path, or a known path with another method) answers 404 to any
/// valid token and 401 without one, so unknown paths need a token like every non-open route.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let authenticator: any ClientAuthenticator
    let auditTrail: AuditTrail?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let template = context.endpointPath
        let route = template.map { "\(request.method.rawValue) \($0)" }
        let requirement: AccessPolicy.Requirement
        if let template, let route {
            guard let found = AccessPolicy.requirement(method: request.method.rawValue, route: template) else {
                context.logger.error("route without an access rule refused", metadata: ["route": "\(route)"])
                throw Problem.forbidden("\(route) has no access rule; routes without one are refused")
            }
            requirement = found
        } else {
            // Nothing matched: the router's 404 follows, for a valid token of any role.
            requirement = .anyOf(Set(Role.allCases))
        }
        let token = bearer(request, route: route)
        let roles: Set<Role>
        switch requirement {
        case .open:
            return try await next(request, context)
        case .tokenOrLoopback:
            if Self.isLoopback(context.remoteAddress), token == nil { return try await next(request, context) }
            roles = Set(Role.allCases)
        case .anyOf(let needed):
            roles = needed
        }
        guard let token else {
            throw Problem.unauthorized("this needs a bearer token: Authorization: Bearer <token> (cip-gateway clients create)")
        }
        guard let identity = try await authenticator.identity(token: token) else {
            throw Problem.unauthorized("the token is not valid: unknown, rotated or revoked")
        }
        guard !identity.roles.isDisjoint(with: roles) else {
            throw Problem.forbidden("this needs the role \(roles.map(\.rawValue).sorted().joined(separator: " or ")); client \(identity.name) has \(identity.roles.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        var context = context
        context.client = identity
        let note = AuditNote()
        context.audit = note
        let endpoint = context.coreContext.endpointPath.value ?? request.uri.path
        let auditTrail = self.auditTrail
        let method = request.method.rawValue
        let path = request.uri.path
        // Every read that returned class 2 or 3 data leaves a line in the audit trail (written in batches).
        let audit: @Sendable (Int, Int, [String], Int) -> Void = { records, dataClass, subjects, status in
            guard let auditTrail, dataClass >= 2 else { return }
            auditTrail.append(AuditRecord(
                atMicros: Int64(Date().timeIntervalSince1970 * 1e6), client: identity.name,
                roles: identity.roles.map(\.rawValue).sorted().joined(separator: ","), method: method,
                endpoint: endpoint, path: path, subjects: subjects, records: records, dataClass: dataClass,
                status: status))
        }
        let authenticator = self.authenticator
        context.streamAccess = StreamAccess(
            isStillAuthorized: {
                do {
                    return try await authenticator.identity(token: token) == identity
                } catch {
                    return true
                }
            },
            audit: { records, dataClass, subjects in audit(records, dataClass, subjects, 200) })
        let response = try await next(request, context)
        let summary = note.summary
        audit(summary.records, summary.dataClass, summary.subjects, Int(response.status.code))
        return response
    }

    /// The token from `Authorization: Bearer`, or, for the alarm stream only (a browser's EventSource cannot set
    /// headers), from the `access_token` query parameter. The route is the matched template, so a path variant of
    /// the stream takes its token the same way.
    private func bearer(_ request: Request, route: String?) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            return token.isEmpty || token.count > 256 ? nil : token
        }
        if route == AccessPolicy.queryTokenRoute, let token = request.uri.queryParameters.get("access_token"),
           !token.isEmpty, token.count <= 256 {
            return token
        }
        return nil
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip == "127.0.0.1" || ip == "::1" || ip.hasPrefix("127.")
    }
}
