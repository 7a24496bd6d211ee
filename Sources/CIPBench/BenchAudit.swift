import API
import Access
import ArgumentParser
import Composition
import Foundation
import Synchronization
import Hummingbird
import Logging
import Models
import Postgres
import Registry
import ServiceLifecycle
import Storage

/// `cip-bench bench-audit`: what the audit trail costs a read. The same sensitive read
/// (`GET /integration/v1/devices/{id}/latest`, class 3 values) over keep-alive connections, against the API
/// without the audit trail (baseline) and with it, alternating, in one run.
struct BenchAudit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-audit", abstract: "Measure the audit trail's cost on sensitive reads.")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Requests per measurement and connection.")
    var requests: Int = 5_000

    @Option(help: "Concurrent keep-alive connections.")
    var connections: Int = 4

    @Option(help: "Rounds (baseline and audited alternate); medians are reported.")
    var rounds: Int = 3

    @Option(help: "Database created (and dropped first) for the run.")
    var benchDatabase: String = "cip_bench_audit"

    func run() async throws {
        Observability.bootstrapLogging()
        var logger = Logger(label: "cip.bench-audit")
        logger.logLevel = .warning
        let scratch = try await BenchDatabase.fresh(serverURL: database.url, name: benchDatabase, logger: logger)
        let url = scratch.url
        try await scratch.registerDevices(["gps-1"], type: "gps-alarm", tenant: "elderly-care", careRecipientRefs: ["cr-1"])
        try await scratch.execute("""
            INSERT INTO latest_observations (device_id, quantity, value_number, value_string, observed_at, received_at, message_key, confidentiality)
            SELECT 'gps-1', q, 1, NULL, now(), now(), '\\x01', 3 FROM unnest(ARRAY['latitude','longitude','position_accuracy','battery']) AS q;
            """)
        let pool = PostgresPool(url: url, size: 4, logger: logger)
        let token = try await ClientStore(pool: pool).create(name: "bench", roles: [.integrator], tenants: nil, clearance: 3)
        let catalogue = try Catalogue.loadDefault()
        print("cip-bench bench-audit: \(connections) keep-alive connections × \(requests) GET /integration/v1/devices/gps-1/latest (class 3)")

        var baseline: [Double] = []
        var audited: [Double] = []
        for round in 1...max(1, rounds) {
            for withAudit in [false, true] {
                let trail = withAudit ? AuditTrail(pool: pool, logger: logger) : nil
                let dependencies = APIDependencies(
                    catalogue: catalogue, telemetry: PostgresTelemetryRepository(pool: pool),
                    devices: PostgresDeviceRepository(pool: pool),
                    authenticator: CachingClientAuthenticator(store: ClientStore(pool: pool)), auditTrail: trail)
                let port = Int.random(in: 40_000...49_999)
                let app = try buildApplication(host: "127.0.0.1", port: port, dependencies: dependencies,
                                           services: trail.map { [$0] } ?? [], logger: logger)
                let group = ServiceGroup(services: [app], logger: logger)
                let running = Task { try await group.run() }
                try await Task.sleep(for: .milliseconds(300))
                let rate = try await measure(port: port, token: token)
                await group.triggerGracefulShutdown()
                try? await running.value
                if withAudit { audited.append(rate) } else { baseline.append(rate) }
                print(String(format: "    round %d %@: %8.0f requests/s", round, withAudit ? "audited " : "baseline", rate))
            }
        }
        let stored = try await scratch.count("SELECT count(*) AS n FROM audit_log")
        await scratch.close()
        let base = baseline.sorted()[baseline.count / 2]
        let withAudit = audited.sorted()[audited.count / 2]
        print(String(format: "baseline (no audit trail): %8.0f requests/s (median)", base))
        print(String(format: "with the audit trail:      %8.0f requests/s (median); audited/baseline = %.3f", withAudit, withAudit / base))
        print("audit records written: \(stored) (expected \(audited.count * requests * connections))")
    }

    /// Requests/s over `connections` keep-alive connections, each sending `requests` sequential GETs from a thread
    /// of its own (blocking socket calls must stay off Swift's cooperative pool, where the server's handlers run).
    private func measure(port: Int, token: String) async throws -> Double {
        let started = Date()
        let failures = Failures()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for _ in 0..<connections {
                group.enter()
                Thread { [requests] in
                    defer { group.leave() }
                    do {
                        let client = try KeepAliveClient(port: port)
                        defer { client.close() }
                        for _ in 0..<requests {
                            let status = try client.get("/integration/v1/devices/gps-1/latest", token: token)
                            if status != 200 { failures.add("status \(status)"); return }
                        }
                    } catch {
                        failures.add("\(error)")
                    }
                }.start()
            }
            group.notify(queue: .global()) { done.resume() }
        }
        if let failure = failures.first { throw ValidationError(failure) }
        return Double(requests * connections) / Date().timeIntervalSince(started)
    }
}

private final class Failures: Sendable {
    private let messages = Mutex<[String]>([])
    func add(_ message: String) { messages.withLock { $0.append(message) } }
    var first: String? { messages.withLock { $0.first } }
}

/// A minimal HTTP/1.1 keep-alive client over a socket: GET, read the status and a Content-Length body.
final class KeepAliveClient: @unchecked Sendable {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Reused for every read: a fresh 64 KiB buffer per request would cost the load generator more than a small answer.
    private var chunk = [UInt8](repeating: 0, count: 65_536)

    init(port: Int) throws {
        descriptor = try connectLoopback(port: port)
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    func close() { Glibc.close(descriptor) }

    func get(_ path: String, token: String) throws -> Int {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
        _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                let status = Int(head.dropFirst(9).prefix(3)) ?? 0
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                while buffer.count < end + 4 + length {
                    let count = recv(descriptor, &chunk, chunk.count, 0)
                    guard count > 0 else { throw ValidationError("connection closed") }
                    buffer += chunk[0..<count]
                }
                buffer.removeFirst(end + 4 + length)
                return status
            }
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { throw ValidationError("connection closed") }
            buffer += chunk[0..<count]
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for start in 0...(buffer.count - needle.count) where buffer[start] == needle[0]
            && buffer[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
