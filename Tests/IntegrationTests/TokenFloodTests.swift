import Access
import Alarms
import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Registry
import Storage
import Testing

extension IntegrationTests {
    /// Unauthenticated token guesses cannot starve the database pool: while a flood of bad tokens runs in
    /// parallel, valid clients are still answered promptly.
    @Suite(.serialized) struct TokenFlood {
        /// A token check on a loaded database: 50 ms of a connection of the pool the routes use too.
        struct SlowLookup: TokenLookup {
            let store: ClientStore
            let pool: PostgresPool
            func identity(token: String) async throws -> ClientIdentity? {
                try await pool.withConnection { try $0.execute("SELECT pg_sleep(0.05)") }
                return try await store.identity(token: token)
            }
            func activeTokenHashes() async throws -> Set<[UInt8]> { try await store.activeTokenHashes() }
        }

        @Test("300 bad-token requests in parallel with valid ones: every valid request answered within a second")
        func validClientsStillAnswered() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            try Scope.seed(database)
            // One small pool for everything (the worst case): lookups may take at most one of its connections.
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let store = ClientStore(pool: pool)
            let token = try await store.create(name: "reader", roles: [.integrator], tenants: nil, clearance: 3)
            var limits = CachingClientAuthenticator.Limits()
            limits.maxConcurrentLookups = 1
            limits.ttl = .seconds(60)
            let router = buildRouter(APIDependencies(
                catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool),
                authenticator: CachingClientAuthenticator(lookup: SlowLookup(store: store, pool: pool), limits: limits),
                alarms: PostgresAlarmRepository(pool: pool)))
            try await Application(router: router).test(.router) { client in
                func get(_ bearer: String) async throws -> (status: Int, seconds: Double) {
                    let start = ContinuousClock.now
                    let status = try await client.execute(uri: "/integration/v1/alarms", method: .get,
                                                          headers: [.authorization: "Bearer \(bearer)"]) { Int($0.status.code) }
                    let elapsed = ContinuousClock.now - start
                    return (status, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                }
                #expect(try await get(token).status == 200)
                let results = try await withThrowingTaskGroup(of: (valid: Bool, status: Int, seconds: Double).self) { group in
                    for index in 0..<300 {
                        group.addTask {
                            let result = try await get("cip_guess_\(index)_\(UInt64.random(in: 0...UInt64.max))")
                            return (false, result.status, result.seconds)
                        }
                    }
                    for _ in 0..<20 {
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(Int.random(in: 10...300)))
                            let result = try await get(token)
                            return (true, result.status, result.seconds)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let valid = results.filter(\.valid)
                let bad = results.filter { !$0.valid }
                #expect(valid.count == 20 && valid.allSatisfy { $0.status == 200 })
                let slowest = valid.map(\.seconds).max() ?? 99
                #expect(slowest < 1.0, "a valid request waited \(slowest) s behind the guesses")
                #expect(bad.allSatisfy { $0.status == 401 || $0.status == 503 }, "\(Set(bad.map(\.status)))")
            }
        }
    }
}
