import Access
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Finds the client a bearer token belongs to.
public protocol ClientAuthenticator: Sendable {
    func identity(token: String) async throws -> ClientIdentity?
}

/// Where tokens are checked: the clients table (`ClientStore`), or a stand-in in tests.
public protocol TokenLookup: Sendable {
    func identity(token: String) async throws -> ClientIdentity?
    /// The hashes of every token in use, so that a valid token is told from a guess before any lookup.
    func activeTokenHashes() async throws -> Set<[UInt8]>
}

extension ClientStore: TokenLookup {}

/// Too many token lookups are waiting already: the request is refused at once (503) instead of queueing.
public struct AuthenticationBusy: Error {}

/// The clients of the database, with a short cache so that a request does not cost a lookup: a revoked or
/// rotated token stops working within `ttl` (5 s by default).
///
/// Unauthenticated guesses must not take the database from valid clients: unknown tokens are remembered (by
/// hash, bounded, oldest forgotten first, never evicting valid ones), at most `maxConcurrentLookups` lookups run
/// at once, at most `maxWaitingLookups` wait (beyond that: `AuthenticationBusy`), and a token that was valid
/// before, or whose hash is among the tokens in use (read every `activeRefresh`, so also after a restart and
/// for a client's first request), goes ahead of unknown ones. `serve` also gives lookups a pool of their own.
public final class CachingClientAuthenticator: ClientAuthenticator {
    public struct Limits: Sendable {
        /// How long a valid token is trusted without asking again (the revocation delay).
        public var ttl: Duration = .seconds(5)
        /// How long an unknown token is answered as unknown without asking again. Tokens are random, so a
        /// guess never becomes valid later.
        public var unknownTTL: Duration = .seconds(60)
        public var unknownCapacity = 10_000
        public var maxConcurrentLookups = 2
        public var maxWaitingLookups = 32
        /// How often the hashes of the tokens in use are read again (a new or rotated token is in the priority
        /// lane within this time; before that it waits like a guess).
        public var activeRefresh: Duration = .seconds(2)

        public init() {}
    }

    private typealias Instant = ContinuousClock.Instant

    private struct State {
        var valid: [[UInt8]: (identity: ClientIdentity, until: Instant)] = [:]
        var unknown: [[UInt8]: Instant] = [:]
        /// Insertion order of `unknown`, for eviction; `unknownHead` is the oldest still present.
        var unknownOrder: [[UInt8]] = []
        var unknownHead = 0
        var running = 0
        var known: [CheckedContinuation<Void, Never>] = []
        var guesses: [CheckedContinuation<Void, Never>] = []
        var active: Set<[UInt8]> = []
        var activeReadAt: Instant?
        var readingActive = false
    }

    private let store: any TokenLookup
    private let limits: Limits
    private let state = Mutex(State())

    public convenience init(store: ClientStore, ttl: Duration = .seconds(5)) {
        var limits = Limits()
        limits.ttl = ttl
        self.init(lookup: store, limits: limits)
    }

    public init(lookup: any TokenLookup, limits: Limits = Limits()) {
        self.store = lookup
        self.limits = limits
    }

    public func identity(token: String) async throws -> ClientIdentity? {
        let key = ClientToken.hash(token)
        if case .answer(let identity) = cached(key) { return identity }
        await refreshActiveIfDue()
        try await acquire(wasValid: state.withLock { $0.valid[key] != nil || $0.active.contains(key) })
        defer { release() }
        // Another request may have looked the same token up while this one waited.
        if case .answer(let identity) = cached(key) { return identity }
        let identity = try await store.identity(token: token)
        let now = ContinuousClock.now
        state.withLock { state in
            if let identity {
                if state.valid.count >= 10_000 { state.valid = state.valid.filter { $0.value.until > now } }
                state.valid[key] = (identity, now + limits.ttl)
            } else {
                state.valid[key] = nil
                remember(unknown: key, until: now + limits.unknownTTL, in: &state)
            }
        }
        return identity
    }

    /// Reads the hashes of the tokens in use when they are older than `activeRefresh`; one request at a time
    /// does it (on the lookups' own pool), the others go on with what is known. A failure keeps the old set.
    private func refreshActiveIfDue() async {
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            guard !state.readingActive, state.activeReadAt.map({ now - $0 >= limits.activeRefresh }) ?? true else { return false }
            state.readingActive = true
            return true
        }
        guard due else { return }
        let hashes = try? await store.activeTokenHashes()
        state.withLock { state in
            if let hashes { state.active = hashes }
            state.activeReadAt = now
            state.readingActive = false
        }
    }

    private enum Cached { case answer(ClientIdentity?), miss }

    private func cached(_ key: [UInt8]) -> Cached {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let entry = state.valid[key], entry.until > now { return .answer(entry.identity) }
            if let until = state.unknown[key], until > now { return .answer(nil) }
            return .miss
        }
    }

    private func remember(unknown key: [UInt8], until: Instant, in state: inout State) {
        if state.unknown.updateValue(until, forKey: key) == nil { state.unknownOrder.append(key) }
        while state.unknown.count > limits.unknownCapacity, state.unknownHead < state.unknownOrder.count {
            state.unknown[state.unknownOrder[state.unknownHead]] = nil
            state.unknownHead += 1
        }
        if state.unknownHead > limits.unknownCapacity {
            state.unknownOrder.removeFirst(state.unknownHead)
            state.unknownHead = 0
        }
    }

    /// A lookup slot; tokens valid before wait ahead of unknown ones, and unknown ones wait only while few do.
    private func acquire(wasValid: Bool) async throws {
        enum Admission { case now, wait, refuse }
        let admission = state.withLock { state -> Admission in
            if state.running < limits.maxConcurrentLookups {
                state.running += 1
                return .now
            }
            return wasValid || state.guesses.count < limits.maxWaitingLookups ? .wait : .refuse
        }
        switch admission {
        case .now: return
        case .refuse: throw AuthenticationBusy()
        case .wait:
            await withCheckedContinuation { continuation in
                let admitted = state.withLock { state -> Bool in
                    // A slot may have come free meanwhile.
                    if state.running < limits.maxConcurrentLookups {
                        state.running += 1
                        return true
                    }
                    if wasValid { state.known.append(continuation) } else { state.guesses.append(continuation) }
                    return false
                }
                if admitted { continuation.resume() }
            }
        }
    }

    /// Hands the slot to the next waiter (the slot stays counted as running), or frees it.
    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if !state.known.isEmpty { return state.known.removeFirst() }
            if !state.guesses.isEmpty { return state.guesses.removeFirst() }
            state.running -= 1
            return nil
        }
        next?.resume()
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
        let found: ClientIdentity?
        do {
            found = try await authenticator.identity(token: token)
        } catch is AuthenticationBusy {
            throw Problem.unavailable("too many token checks at once; retry in a moment")
        }
        guard let identity = found else {
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
        // Every read that returns class 2 or 3 data, and every write of the CIP tier, leaves a line in the audit
        // trail, stored before the answer goes.
        let audit: @Sendable (Int, Int, [String], Int) async -> Bool = { records, dataClass, subjects, status in
            guard let auditTrail, dataClass >= 2 || note.changedData else { return true }
            return await auditTrail.record(AuditRecord(
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
            audit: { records, dataClass, subjects in await audit(records, dataClass, subjects, 200) })
        let response = try await next(request, context)
        let summary = note.summary
        guard await audit(summary.records, summary.dataClass, summary.subjects, Int(response.status.code)) else {
            throw Problem.unavailable(note.changedData
                ? "the audit trail cannot be written now; the write was stored, its line was not: retry to have it audited"
                : "the audit trail cannot be written now; class 2 and 3 data is not released without its line")
        }
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
