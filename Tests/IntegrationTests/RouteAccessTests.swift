import Access
import Alarms
import API
import Foundation
import Locks
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import Registry
import SafeZones
import Storage
import Testing

extension IntegrationTests {
    /// The access decision belongs to the route the router matched, not to the spelling of the path: every
    /// documented route, called with each role's token (and none, and an invalid one) and with path variants,
    /// gets the canonical route's decision or the router's 404; unknown routes are 404 for every role.
    @Suite(.serialized) struct RouteAccess {
        /// One client per role, every tenant, full clearance: a 403 can only come from the role check.
        struct Clients: ClientAuthenticator {
            func identity(token: String) async throws -> ClientIdentity? {
                Role(rawValue: token).map { ClientIdentity(name: "only-\($0.rawValue)", roles: [$0], tenants: nil, clearance: 3) }
            }
        }

        /// Who calls: each role's token, no token, a token nobody has.
        static let callers: [String?] = Role.allCases.map(\.rawValue) + [nil, "cip_nobody-has-this"]

        static func hasValidToken(_ caller: String?) -> Bool { caller.flatMap(Role.init(rawValue:)) != nil }

        /// What the gateway decided, read from the answer. The router's own 404 has its own wording, so it is
        /// told apart from a handler's 404 for an unknown id (which means the check let the request through).
        enum Decision: Equatable {
            case unauthorized, forbidden, noRoute, passed

            init(status: Int, body: String) {
                switch status {
                case 401: self = .unauthorized
                case 403: self = .forbidden
                case 404 where body.contains("no resource at"): self = .noRoute
                default: self = .passed
                }
            }
        }

        static func withApp(seed: ((TestDatabase) throws -> Void)? = nil,
                            _ body: @escaping @Sendable (any TestClientProtocol, TestDatabase) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try seed?(database)
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let router = Self.router(pool: pool, authenticator: Clients())
            try await Application(router: router).test(.router) { client in try await body(client, database) }
        }

        /// The router with every optional part, as `serve` builds it (the alarm stream without a feed answers 503,
        /// so that a request to it ends).
        static func router(pool: PostgresPool, authenticator: (any ClientAuthenticator)?) -> Router<AppRequestContext> {
            var dependencies = APIDependencies(
                catalogue: try! TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool), authenticator: authenticator,
                auditTrail: AuditTrail(pool: pool, logger: TestStack.logger),
                openData: PostgresOpenDataRepository(pool: pool), alarms: PostgresAlarmRepository(pool: pool),
                grants: PostgresGrantRepository(pool: pool), lockCommands: PostgresCommandRepository(pool: pool),
                lockReports: PostgresLockReportRepository(pool: pool),
                zones: PostgresZoneRepository(pool: pool), subjectAccess: PostgresSubjectAccessRepository(pool: pool))
            dependencies.subscriptions = PostgresSubscriptions(pool: pool)
            dependencies.openDataWriter = PostgresExternalEntities(pool: pool) { values, key, at, connection in
                try IngestStore.insertOpenValues(values, messageKey: key, receivedAtMicros: at, on: connection)
            }
            return buildRouter(dependencies)
        }

        static func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String,
                         as caller: String?) async throws -> (status: Int, body: String, contentType: String?) {
            var headers = HTTPFields()
            if let caller { headers[.authorization] = "Bearer \(caller)" }
            var body: ByteBuffer?
            if method == .post || method == .patch {
                headers[.contentType] = "application/json"
                body = ByteBuffer(string: "{}")
            }
            return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
                (Int(response.status.code), String(buffer: response.body), response.headers[.contentType])
            }
        }

        /// Sample values for the templates' parameters: ids nobody registered, so that a request that passes the
        /// check changes nothing (a handler answers 404 or 400 for them).
        static let samples = [
            "{deviceId}": "no-such-device", "{alarmId}": "987654", "{typeId}": "sensor", "{quantityId}": "temperature",
            "{entityId}": "urn:ngsi-ld:Device:no-such-device", "{file}": "console.js", "{grantId}": "987654",
            "{commandId}": "00000000-0000-0000-0000-000000000000", "{zoneId}": "987654",
            "{careRecipientRef}": "cr-no-such-person", "{type}": "NoSuchType", "{attrId}": "noSuchAttribute",
            "{contextId}": "cip-context.jsonld", "{subscriptionId}": "urn:ngsi-ld:Subscription:none",
        ]

        /// The documented operations (`GET /iot/v1/devices/{deviceId}`) from the served OpenAPI document.
        static func documentedRoutes(_ client: any TestClientProtocol) async throws -> [(method: HTTPRequest.Method, template: String)] {
            let data = try await client.execute(uri: "/openapi.json", method: .get) { Data(buffer: $0.body) }
            return try OpenAPI.documentedOperations(data).sorted().map { operation in
                let parts = operation.split(separator: " ", maxSplits: 1)
                return (HTTPRequest.Method(String(parts[0]))!, String(parts[1]))
            }
        }

        static func concrete(_ template: String) -> String {
            samples.reduce(template) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
        }

        /// Spellings the router resolves to the same route and the same parameters: the decision and the answer
        /// must be the canonical path's.
        static func sameRouteVariants(_ path: String) -> [String] {
            let slashes = path.indices.filter { path[$0] == "/" }
            return ["/" + path, path + "/", path.replacingOccurrences(of: "/", with: "//"), path + "//"]
                + slashes.map { index in var variant = path; variant.insert("/", at: index); return variant }
        }

        /// Spellings a proxy or a browser might treat as the canonical path: the router may take them for the same
        /// route (then the same decision) or for none (then 404), never for a route with a weaker rule.
        static func otherVariants(_ path: String) -> [String] {
            let segments = path.split(separator: "/").map(String.init)
            func replacing(_ index: Int, with segment: String) -> String {
                var copy = segments
                copy[index] = segment
                return "/" + copy.joined(separator: "/")
            }
            func inserting(_ extra: String, at index: Int) -> String {
                var copy = segments
                copy.insert(extra, at: index)
                return "/" + copy.joined(separator: "/")
            }
            var variants = [path.uppercased(), path + "/.", path + "/..", path + ".", path + "%2F", path + "%00",
                            path.replacingOccurrences(of: "/", with: "%2F"), path.replacingOccurrences(of: "/", with: "\\")]
            for index in segments.indices {
                variants.append(replacing(index, with: segments[index].capitalized))
                variants.append(replacing(index, with: segments[index] + "."))
                variants.append(replacing(index, with: segments[index].replacingOccurrences(of: "-", with: "%2D")))
                variants.append(inserting(".", at: index))
                variants.append(inserting("%2e", at: index))
                variants.append(inserting("x/..", at: index))
                variants.append(inserting("..", at: index))
                if index > 0 {
                    // Two segments glued with an encoded slash: `/iot%2Fv1/devices`.
                    var copy = segments
                    copy[index - 1] += "%2F" + copy.remove(at: index)
                    variants.append("/" + copy.joined(separator: "/"))
                }
            }
            return variants
        }

        @Test("every documented route with every role: path variants get the canonical decision or the router's 404")
        func variantsGetTheCanonicalDecision() async throws {
            try await Self.withApp { client, _ in
                let routes = try await Self.documentedRoutes(client)
                #expect(routes.count >= 30)
                var checked = 0
                for (method, template) in routes {
                    let path = Self.concrete(template)
                    #expect(!path.contains("{"), "no sample value for a parameter of \(template)")
                    let rule = AccessPolicy.requirement(method: method.rawValue, route: template)
                    #expect(rule != nil, "\(method) \(template) has no access rule")
                    for caller in Self.callers {
                        let canonical = try await Self.call(client, method, path, as: caller)
                        let decision = Decision(status: canonical.status, body: canonical.body)
                        #expect(decision != .noRoute, "\(method) \(path) as \(caller ?? "nobody"): the router does not know it")
                        #expect(decision == Self.expected(rule, caller), "\(method) \(path) as \(caller ?? "nobody"): \(canonical.status) \(canonical.body)")
                        let unknown: Decision = Self.hasValidToken(caller) ? .noRoute : .unauthorized
                        for variant in Self.sameRouteVariants(path) {
                            let answer = try await Self.call(client, method, variant, as: caller)
                            #expect(Decision(status: answer.status, body: answer.body) == decision && answer.status == canonical.status,
                                    "\(method) \(variant) as \(caller ?? "nobody"): \(answer.status), canonical \(canonical.status)")
                            checked += 1
                        }
                        for variant in Self.otherVariants(path) {
                            let answer = try await Self.call(client, method, variant, as: caller)
                            let got = Decision(status: answer.status, body: answer.body)
                            #expect(got == decision || got == unknown,
                                    "\(method) \(variant) as \(caller ?? "nobody"): \(got) (\(answer.status)), canonical \(decision), unknown \(unknown)")
                            checked += 1
                        }
                    }
                }
                #expect(checked > 5_000)
            }
        }

        /// The decision the table promises: open routes pass for everybody; the others need a valid token with
        /// one of the roles (metrics accepts any role; in-process requests have no loopback address).
        static func expected(_ rule: AccessPolicy.Requirement?, _ caller: String?) -> Decision {
            let role = caller.flatMap(Role.init(rawValue:))
            switch rule {
            case .open: return .passed
            case .tokenOrLoopback: return role == nil ? .unauthorized : .passed
            case .anyOf(let roles): return role.map { roles.contains($0) ? .passed : .forbidden } ?? .unauthorized
            case nil: return .forbidden
            }
        }

        @Test("unknown routes and unrouted methods: 404 problem+json for every role, 401 without a valid token")
        func unknownRoutesAre404() async throws {
            try await Self.withApp { client, _ in
                let unknown: [(HTTPRequest.Method, String)] = [
                    (.get, "/"), (.get, "//"), (.get, "/iot"), (.get, "/iot/v1"), (.get, "/iot/v2/devices"),
                    (.get, "/iot/v1/devices/x/y/z"), (.get, "/integration/v1/audit/x"), (.get, "/integration"),
                    (.get, "/ngsi-ld/v1"), (.get, "/elsewhere"), (.get, "/IOT/v1/devices"), (.get, "/Healthz"),
                    (.delete, "/iot/v1/devices/sensor-004"), (.put, "/integration/v1/audit"), (.post, "/integration/v1/audit"),
                    (.head, "/metrics"), (.head, "/iot/v1/devices"), (.options, "/iot/v1/devices"), (.put, "/ngsi-ld/v1/entities"),
                ]
                for (method, path) in unknown {
                    for caller in Self.callers {
                        let answer = try await Self.call(client, method, path, as: caller)
                        let expected = Self.hasValidToken(caller) ? 404 : 401
                        #expect(answer.status == expected, "\(method) \(path) as \(caller ?? "nobody"): \(answer.status) \(answer.body)")
                        if method != .head {
                            #expect(answer.contentType == "application/problem+json", "\(method) \(path)")
                        }
                    }
                }
            }
        }

        @Test("the reported bypasses: a doubled slash does not skip the role check")
        func doubledSlashesAreChecked() async throws {
            try await Self.withApp(seed: { _ = try $0.register(["sensor-004"]) }) { client, database in
                let devices = try await Self.call(client, .get, "//iot/v1/devices", as: "open-data")
                #expect(devices.status == 403 && !devices.body.contains("sensor-004"), "\(devices)")
                let suspend = try await Self.call(client, .post, "//iot/v1/devices/sensor-004/suspend", as: "open-data")
                #expect(suspend.status == 403, "\(suspend)")
                #expect(try database.count("SELECT count(*) FROM devices WHERE device_id = 'sensor-004' AND lifecycle_state = 'active'") == 1)
                #expect(try await Self.call(client, .get, "/integration//v1/audit", as: "integrator").status == 403)
                #expect(try await Self.call(client, .get, "/integration//v1/audit", as: "auditor").status == 200)
                // The role that has the route still reaches it through the same spelling.
                let listed = try await Self.call(client, .get, "//iot/v1/devices/", as: "device-admin")
                #expect(listed.status == 200 && listed.body.contains("sensor-004"))
            }
        }

        @Test("the alarm stream's query token is accepted on its route only, whatever the spelling")
        func queryTokenOnlyOnTheStream() async throws {
            try await Self.withApp { client, _ in
                // No feed in this router: a request that passes the check answers 503.
                for path in ["/integration/v1/alarms/stream", "//integration/v1/alarms//stream/"] {
                    let answer = try await Self.call(client, .get, path + "?access_token=integrator", as: nil)
                    #expect(answer.status == 503, "\(path): \(answer.status)")
                    #expect(try await Self.call(client, .get, path + "?access_token=open-data", as: nil).status == 403)
                }
                #expect(try await Self.call(client, .get, "/integration/v1/alarms?access_token=integrator", as: nil).status == 401)
                #expect(try await Self.call(client, .get, "/iot/v1/devices?access_token=device-admin", as: nil).status == 401)
            }
        }

        @Test("every route the router has is in the access policy (deny by default), and nothing else is")
        func everyRouteHasAnAccessRule() throws {
            let pool = PostgresPool(url: TestStack.databaseURL, size: 1, logger: TestStack.logger)
            let routes = Self.router(pool: pool, authenticator: Clients()).routes.map { "\($0.method.rawValue) \($0.path)" }
            #expect(routes.count >= 30)
            let unmapped = routes.filter { AccessPolicy.table[$0] == nil }
            #expect(unmapped == [], "routes without an access rule are refused; add them to AccessPolicy.table")
            #expect(Set(AccessPolicy.table.keys).subtracting(routes).sorted() == [], "access rules for routes that do not exist")
        }

        @Test("a route added without an access rule is refused for every caller, whatever its path looks like")
        func unmappedRouteIsRefused() async throws {
            let pool = PostgresPool(url: TestStack.databaseURL, size: 1, logger: TestStack.logger)
            let router = Self.router(pool: pool, authenticator: Clients())
            // Under an open-looking and a role-looking prefix: neither lends it a rule.
            router.get("/console/extra/page") { _, _ in "reached" }
            router.get("/iot/v1/unlisted") { _, _ in "reached" }
            try await Application(router: router).test(.router) { client in
                for path in ["/console/extra/page", "/iot/v1/unlisted", "//iot/v1/unlisted/"] {
                    for caller in Self.callers {
                        let answer = try await Self.call(client, .get, path, as: caller)
                        #expect(answer.status == 403 && !answer.body.contains("reached"), "\(path) as \(caller ?? "nobody"): \(answer.status)")
                        #expect(answer.contentType == "application/problem+json")
                    }
                }
            }
        }
    }
}
