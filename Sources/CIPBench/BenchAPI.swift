import API
import Access
import ArgumentParser
import CLibPQ
import Composition
import Foundation
import Hummingbird
import Logging
import Models
import Postgres
import ServiceLifecycle
import Synchronization

/// `cip-bench bench-api`: each hot route of the read API under concurrent keep-alive load, against, in the same run,
/// the route's own SQL through as many database sessions. The statements are the ones the route really ran: the
/// API's pool records them during a first pass over the requests, and libpq replays them as prepared statements.
/// Static documents are compared with `/healthz` instead.
struct BenchAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-api", abstract: "Measure the read API's hot routes against their own SQL and /healthz.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Concurrent keep-alive connections (and database sessions for the SQL).")
    var connections: Int = 8

    @Option(help: "Seconds of load per route and per reference.")
    var seconds: Double = 5

    @Option(help: "Devices of each kind (GPS alarms with care data, sensors with open data).")
    var devices: Int = 500

    @Option(help: "Routes to measure, comma-separated (default: all): \(Route.all.map(\.name).joined(separator: ",")).")
    var routes: String?

    @Option(help: "Tenants the reading client is scoped to, comma-separated (default: none, a city-wide client).")
    var tenants: String?

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_api"

    /// Request variants per route (at most 64, one per device): the load cycles over them, and the SQL replay
    /// over their statements.
    var variants: Int { min(64, devices) }

    func validate() throws {
        guard (1...1_024).contains(connections) else { throw ValidationError("--connections must be 1 to 1024") }
        guard seconds.isFinite, seconds > 0, seconds <= 3_600 else { throw ValidationError("--seconds must be above 0 and at most 3600") }
        guard (1...100_000).contains(devices) else { throw ValidationError("--devices must be 1 to 100000") }
        _ = try selectedRoutes()
    }

    struct Route: Sendable {
        enum Kind: String, Sendable { case oneDevice = "one device", list, document }
        let name: String
        let kind: Kind
        let path: @Sendable (Int) -> String

        static let all: [Route] = [
            Route(name: "healthz", kind: .document) { _ in "/healthz" },
            Route(name: "models", kind: .document) { _ in "/integration/v1/models" },
            Route(name: "openapi", kind: .document) { _ in "/openapi.json" },
            Route(name: "latest", kind: .oneDevice) { "/integration/v1/devices/\(gps($0))/latest" },
            Route(name: "observations", kind: .oneDevice) { "/integration/v1/devices/\(gps($0))/observations?limit=100" },
            Route(name: "alarm", kind: .oneDevice) { "/integration/v1/alarms/\($0 + 1)" },
            Route(name: "entity", kind: .oneDevice) { "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:\(sensor($0))" },
            Route(name: "devices", kind: .list) { _ in "/iot/v1/devices?limit=100" },
            Route(name: "alarms", kind: .list) { _ in "/integration/v1/alarms?limit=100" },
        ]

        /// The target of the issue: a share of the SQL's rate (of /healthz for documents).
        var target: Double {
            switch kind {
            case .oneDevice: 0.3
            case .list: 0.2
            case .document: 0.5
            }
        }
    }

    static func gps(_ index: Int) -> String { String(format: "gps-%04d", index) }
    static func sensor(_ index: Int) -> String { String(format: "sensor-%04d", index) }

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-api")
        logger.logLevel = .warning
        let selected = try selectedRoutes()
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        try await seed(scratch)

        let recorder = StatementRecorder()
        let journalDirectory = NSTemporaryDirectory() + "cip-bench-api-journal-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        let gateway = try GatewayServices(
            databaseURL: scratch.url,
            brokerConfiguration: try broker.configuration(clientID: "cip-bench-api-\(getpid())", cleanSession: true),
            journalDirectory: journalDirectory, journalSync: .milliseconds(5), maxPayloadBytes: 256 << 10,
            maxBatchMessages: 1_000, catalogue: try DataModelsLoader.normalizer(at: nil),
            apiStatementObserver: { sql, parameters in recorder.observe(sql, parameters) }, logger: logger)
        let port = Int.random(in: 40_000...49_999)
        // The API as `serve` wires it; of the background services only those the reads use.
        let app = try buildApplication(
            host: "127.0.0.1", port: port,
            dependencies: gateway.apiDependencies(catalogue: try Catalogue.loadDefault(), metrics: { [] }),
            services: [gateway.apiPool, gateway.tokenPool, gateway.auditTrail], logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        let scope = tenants.map { Set($0.split(separator: ",").map(String.init)) }
        let token = try await ClientStore(pool: scratch.pool).create(
            name: "bench-api", roles: [.deviceAdmin, .alarmOperator, .integrator, .openData], tenants: scope, clearance: 3)

        print("cip-bench bench-api: \(connections) keep-alive connections, \(Int(seconds)) s per measurement, "
              + "\(devices) GPS alarms and \(devices) sensors, \(variants) request variants per route"
              + (scope.map { ", client scoped to \($0.sorted().joined(separator: ","))" } ?? ", city-wide client"))
        var healthz: LoadResult?
        var rows: [String] = []
        for route in selected {
            let paths = (0..<variants).map(route.path)
            // First pass: one request per variant, sequentially, recording the statements each ran.
            var recorded: [[RecordedStatement]] = []
            let client = try KeepAliveClient(port: port)
            for path in paths {
                recorder.start()
                let status = try client.get(path, token: token)
                guard status == 200 else { throw BenchFailure("\(path) answered \(status)") }
                recorded.append(recorder.stop())
            }
            client.close()
            let http = try await Self.load(connections: connections, seconds: seconds) { client, index in
                let status = try client.get(paths[index % paths.count], token: token)
                if status != 200 { throw BenchFailure("\(paths[index % paths.count]) answered \(status)") }
            } connect: { try KeepAliveClient(port: port) }
            if route.name == "healthz" { healthz = http }
            let statements = recorded.map(\.count).max() ?? 0
            let reference: (name: String, result: LoadResult)?
            var pooled: LoadResult?
            if route.name == "healthz" {
                reference = nil  // the reference of the documents itself
            } else if route.kind == .document {
                reference = healthz.map { ("/healthz", $0) }
            } else if statements > 0 {
                // Each distinct statement prepared once per session; the requests refer to them by number.
                let texts = Array(Set(recorded.joined().map(\.sql))).sorted()
                let requests = recorded.map { $0.map { (statement: texts.firstIndex(of: $0.sql)!, parameters: $0.parameters) } }
                let sql = try await Self.load(connections: connections, seconds: seconds) { session, index in
                    try session.run(requests[index % requests.count])
                } connect: { try SQLSession(url: scratch.url, statements: texts) }
                reference = ("its SQL (\(statements) statement\(statements == 1 ? "" : "s"))", sql)
                // The same statements through the gateway's own pool, without HTTP: what the pool's path costs.
                pooled = try await Self.loadThroughPool(gateway.apiPool, connections: connections, seconds: seconds, requests: recorded)
            } else {
                reference = nil
            }
            let ratio = reference.map { http.rate / $0.result.rate }
            let verdict = ratio.map { $0 >= route.target ? "meets" : "below" } ?? ""
            print(String(format: "  %-13@ %8.0f req/s  p99 %6.2f ms", route.name, http.rate, http.p99Millis), terminator: "")
            if let reference, let ratio {
                print(String(format: "   %@ %8.0f /s  p99 %6.2f ms   ratio %.2f (target %.1f: %@)", reference.name,
                             reference.result.rate, reference.result.p99Millis, ratio, route.target, verdict)
                      + (pooled.map { String(format: "; through the gateway's pool %.0f /s", $0.rate) } ?? ""))
            } else {
                print("")
            }
            rows.append(String(format: "| %@ | %@ | %.0f | %.2f | %@ | %@ | %@ | %@ |", route.name, route.kind.rawValue, http.rate,
                               http.p99Millis, reference.map { String(format: "%.0f (%@)", $0.result.rate, $0.name) } ?? "–",
                               ratio.map { String(format: "**%.2f**", $0) } ?? "–", verdict,
                               pooled.map { String(format: "%.0f", $0.rate) } ?? "–"))
        }
        print("\n| route | kind | req/s | p99 ms | reference /s | ratio | target | its SQL through the gateway's pool /s |\n|---|---|---:|---:|---|---:|---|---:|")
        rows.forEach { print($0) }
        await group.triggerGracefulShutdown()
        try? await running.value
        await scratch.close()
    }

    private func selectedRoutes() throws -> [Route] {
        guard let routes else { return Route.all }
        let names = routes.split(separator: ",").map(String.init)
        return try names.map { name in
            guard let route = Route.all.first(where: { $0.name == name }) else {
                throw ValidationError("unknown route \(name); known: \(Route.all.map(\.name).joined(separator: ","))")
            }
            return route
        }
    }

    /// Devices with a day of history, latest values and alarms: enough rows that the reads use their indexes.
    private func seed(_ scratch: BenchDatabase) async throws {
        let gps = (0..<devices).map(Self.gps)
        let sensors = (0..<devices).map(Self.sensor)
        try await scratch.registerDevices(gps, type: "gps-alarm", tenant: "elderly-care", careRecipientRefs: gps.map { "cr-" + $0 })
        try await scratch.registerDevices(sensors, type: "sensor", tenant: "facilities")
        try await scratch.execute("""
            INSERT INTO observations (device_id, quantity, value_number, unit, observed_at, received_at, message_key, record_index, confidentiality)
            SELECT d.device_id, q.quantity, 59.3 + i * 0.0001, q.unit, now() - i * interval '1 minute', now() - i * interval '1 minute',
                   decode(md5(d.device_id || i), 'hex'), q.index, q.class
            FROM devices d, generate_series(1, 200) AS i,
                 (VALUES ('latitude', 'lat', 0, 3), ('longitude', 'lon', 1, 3), ('battery', '%', 2, 2)) AS q(quantity, unit, index, class)
            WHERE d.type = 'gps-alarm';
            INSERT INTO latest_observations (device_id, quantity, value_number, unit, observed_at, received_at, message_key, confidentiality)
            SELECT d.device_id, q.quantity, q.value, q.unit, now(), now(), decode(md5(d.device_id), 'hex'), q.class
            FROM devices d JOIN (VALUES ('gps-alarm', 'latitude', 59.33, 'lat', 3), ('gps-alarm', 'longitude', 18.06, 'lon', 3),
                                        ('gps-alarm', 'position_accuracy', 8, 'm', 3), ('gps-alarm', 'battery', 80, '%', 2),
                                        ('sensor', 'temperature', 21.5, 'Cel', 1), ('sensor', 'humidity', 40, '%RH', 1),
                                        ('sensor', 'battery', 90, '%', 2)) AS q(type, quantity, value, unit, class)
              ON q.type = d.type;
            INSERT INTO alarms (device_id, type, kind, priority, state, tenant, raised_at, last_triggered_at, ack_deadline,
                                confidentiality, source_event_id)
            SELECT d.device_id, 'sos', 'care', 1 + (n % 3), CASE WHEN n % 4 = 0 THEN 'open' ELSE 'resolved' END, d.tenant,
                   now() - n * interval '1 minute', now() - n * interval '1 minute', now() + interval '1 minute', 3, n
            FROM (SELECT device_id, tenant, row_number() OVER (ORDER BY device_id) AS n FROM devices WHERE type = 'gps-alarm') d;
            INSERT INTO alarm_changes (alarm_id, change, actor) SELECT id, 'opened', 'bench' FROM alarms;
            ANALYZE;
            """)
    }

    /// Requests per second when `connections` tasks run the recorded requests' statements through `pool`.
    static func loadThroughPool(_ pool: PostgresPool, connections: Int, seconds: Double,
                                requests: [[RecordedStatement]]) async throws -> LoadResult {
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(seconds * 1e9)
        let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for task in 0..<connections {
                group.addTask {
                    var latencies: [UInt64] = []
                    var index = task * 7
                    while DispatchTime.now().uptimeNanoseconds < deadline {
                        let statements = requests[index % requests.count]
                        let before = DispatchTime.now().uptimeNanoseconds
                        try await pool.withConnection { connection in
                            for statement in statements {
                                try connection.query(statement.sql, statement.parameters.map { $0 as (any PostgresBindable)? })
                            }
                        }
                        latencies.append(DispatchTime.now().uptimeNanoseconds - before)
                        index += 1
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        return try LoadResult(latencies: latencies, since: started)
    }

    struct LoadResult {
        let rate: Double
        let p99Millis: Double

        /// From each request's latency (nanoseconds) and the uptime (nanoseconds) the load started at.
        init(latencies: [UInt64], since started: UInt64) throws {
            guard !latencies.isEmpty else { throw BenchFailure("no request completed") }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let sorted = latencies.sorted()
            rate = Double(sorted.count) / elapsed
            p99Millis = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1e6
        }
    }

    /// Requests per second over `connections` clients, each on a thread of its own (blocking calls stay off Swift's
    /// cooperative pool, where the server's handlers run), for `seconds`; and the 99th percentile latency.
    static func load<Client: Sendable>(connections: Int, seconds: Double,
                                       _ request: @escaping @Sendable (Client, Int) throws -> Void,
                                       connect: @escaping @Sendable () throws -> Client) async throws -> LoadResult {
        let results = Mutex<(latencies: [UInt64], failures: [String])>(([], []))
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(seconds * 1e9)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for thread in 0..<connections {
                group.enter()
                Thread {
                    defer { group.leave() }
                    var latencies: [UInt64] = []
                    latencies.reserveCapacity(1 << 16)
                    do {
                        let client = try connect()
                        var index = thread * 7
                        var now = DispatchTime.now().uptimeNanoseconds
                        while now < deadline {
                            try request(client, index)
                            let after = DispatchTime.now().uptimeNanoseconds
                            latencies.append(after - now)
                            now = after
                            index += 1
                        }
                    } catch {
                        results.withLock { $0.failures.append("\(error)") }
                    }
                    results.withLock { $0.latencies += latencies }
                }.start()
            }
            group.notify(queue: .global()) { done.resume() }
        }
        let (latencies, failures) = results.withLock { ($0.latencies, $0.failures) }
        if let failure = failures.first { throw BenchFailure(failure) }
        return try LoadResult(latencies: latencies, since: started)
    }
}

/// One statement a route ran, with its parameters in text format.
struct RecordedStatement: Sendable {
    let sql: String
    let parameters: [String?]
}

/// Collects the statements the API's pool runs between `start` and `stop`, except the audit trail's writes (the
/// gateway's own cost, not the route's read).
final class StatementRecorder: Sendable {
    private let state = Mutex<(recording: Bool, statements: [RecordedStatement])>((false, []))

    func observe(_ sql: String, _ parameters: [String?]) {
        guard sql != PostgresAuditLog.insertStatement else { return }
        state.withLock { if $0.recording { $0.statements.append(RecordedStatement(sql: sql, parameters: parameters)) } }
    }

    func start() { state.withLock { $0 = (true, []) } }

    func stop() -> [RecordedStatement] {
        state.withLock { state in
            defer { state = (false, []) }
            return state.statements
        }
    }
}

/// A libpq session of its own that runs recorded statements as prepared statements: the database's own rate for
/// them, with nothing of the gateway in between.
final class SQLSession: @unchecked Sendable {
    private let connection: OpaquePointer

    /// Connects and prepares `statements` as `s0`, `s1`, ...
    init(url: String, statements: [String]) throws {
        guard let connection = PQconnectdb(url), PQstatus(connection) == CONNECTION_OK else {
            throw BenchFailure("cannot connect to the bench database")
        }
        self.connection = connection
        for (index, sql) in statements.enumerated() {
            let result = PQprepare(connection, "s\(index)", sql, 0, nil)
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COMMAND_OK else {
                throw BenchFailure("prepare failed: \(String(cString: PQerrorMessage(connection)))")
            }
        }
    }

    deinit { PQfinish(connection) }

    /// Runs one request's statements, given by their number in `statements`.
    func run(_ statements: [(statement: Int, parameters: [String?])]) throws {
        for statement in statements {
            let name = "s\(statement.statement)"
            let pointers: [UnsafeMutablePointer<CChar>?] = statement.parameters.map { $0.map { strdup($0) } ?? nil }
            defer { pointers.forEach { free($0) } }
            let values = pointers.map { $0.map { UnsafePointer($0) } }
            let result = PQexecPrepared(connection, name, Int32(values.count), values, nil, nil, 0)
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
                throw BenchFailure("replay failed: \(String(cString: PQerrorMessage(connection)))")
            }
            // Read every value, as a client does.
            for row in 0..<PQntuples(result) {
                for column in 0..<PQnfields(result) { _ = PQgetvalue(result, row, column) }
            }
        }
    }
}

/// A measurement that went wrong (an unexpected answer, a lost connection): an error of the run, not of its options.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
