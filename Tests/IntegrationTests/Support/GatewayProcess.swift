import Foundation
import MQTT

/// A real `cip-gateway serve` process (the binary Gateway/test built), so tests can kill it like an operator
/// or a crash would.
final class GatewayProcess: @unchecked Sendable {
    let databaseURL: String
    let journalDirectory: String
    let clientID: String
    let httpPort: Int
    private var process: ChildProcess?
    /// Added to the gateway's environment (for example CIP_DATA_MODELS).
    var extraEnvironment: [String: String] = [:]
    /// The bearer token `httpGet`/`httpSend` send: a client with every role, every tenant and clearance 3,
    /// created through the real CLI once the gateway is first ready (after it migrated its database).
    /// Set it to another gateway's token for a second gateway on the same database.
    var token: String?
    private let logPath: String

    init(databaseURL: String) {
        self.databaseURL = databaseURL
        journalDirectory = NSTemporaryDirectory() + TestStack.uniqueName("cip-journal")
        clientID = TestStack.uniqueName("cip-gateway-test")
        httpPort = Int.random(in: 20_000...29_999)
        logPath = journalDirectory + ".log"
    }

    static var binary: String {
        if let path = TestStack.environment["CIP_GATEWAY_BIN"] { return path }
        // Next to the test bundle in .build/<triple>/debug.
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("cip-gateway").path
    }

    /// `cip-bench` (the demo fleet and the benchmarks): CIP_BENCH_BIN, else beside the gateway binary.
    static var benchBinary: String {
        if let path = TestStack.environment["CIP_BENCH_BIN"] { return path }
        return URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("cip-bench").path
    }

    func start() throws {
        var environment = TestStack.environment
        environment["DATABASE_URL"] = databaseURL
        environment["MQTT_URL"] = TestStack.mqttURL
        environment["JOURNAL_DIR"] = journalDirectory
        environment["MQTT_CLIENT_ID"] = clientID
        environment["HTTP_PORT"] = String(httpPort)
        environment["LOG_LEVEL"] = "info"
        environment.merge(extraEnvironment) { _, extra in extra }
        process = try ChildProcess([Self.binary, "serve"], environment: environment, logPath: logPath)
    }

    /// Creates an API client with `cip-gateway clients create` and returns its token.
    func createClient(name: String, roles: String, tenants: String = "*", clearance: Int) throws -> String {
        var environment = TestStack.environment
        environment["DATABASE_URL"] = databaseURL
        let output = journalDirectory + "-\(name).client"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess([Self.binary, "clients", "create", "--name", name, "--roles", roles,
                                      "--tenants", tenants, "--clearance", String(clearance)],
                                     environment: environment, logPath: output)
        let status = child.wait()
        let text = FileManager.default.contents(atPath: output).map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard status == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("{") }),
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let token = object["token"] as? String else {
            throw TestFailure("clients create failed (\(status)): \(text)")
        }
        return token
    }

    /// Waits until the gateway's broker session is up (its /readyz answers "ready").
    func waitUntilReady(timeout: Double = 60) async throws {
        let ready = await eventually(timeout: timeout) { (try? httpStatus("/readyz")) == 200 }
        if !ready { throw TestFailure("gateway not ready within \(timeout) s; log: \(logTail())") }
        if token == nil {
            token = try createClient(name: "test-all", roles: "device-admin,alarm-operator,integrator,auditor,open-data", clearance: 3)
        }
    }

    /// Waits for the gateway to exit by itself; its exit status.
    /// The running process's id; nil when it is not running (it exited or crashed).
    var pid: pid_t? {
        guard let process, process.isRunning else { return nil }
        return process.pid
    }

    func waitForExit() -> Int32? {
        guard let process else { return nil }
        let status = process.wait()
        self.process = nil
        return status
    }

    func kill() {
        guard let process, process.isRunning else { return }
        process.signal(SIGKILL)
        process.wait()
        self.process = nil
    }

    /// Stops the gateway with SIGTERM and returns its exit status (nil if it was not running).
    @discardableResult
    func terminate() -> Int32? {
        guard let process, process.isRunning else { return nil }
        process.signal(SIGTERM)
        let status = process.wait()
        self.process = nil
        return status
    }

    func cleanUp() {
        terminate()
        // Remove the gateway's persistent session, or the broker queues every later message for it.
        if let reset = try? MQTTClient(configuration: try TestStack.mqtt(clientID, TestStack.gatewayAccount),
                                       logger: TestStack.logger), (try? reset.connect()) != nil {
            reset.stop()
        }
        try? FileManager.default.removeItem(atPath: journalDirectory)
        try? FileManager.default.removeItem(atPath: logPath)
    }

    func logTail(_ bytes: Int = 4_000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "(no log)" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }

    /// Status code of a GET on the gateway's API.
    func httpStatus(_ path: String) throws -> Int {
        try httpGet(path).status
    }

    func httpGet(_ path: String, token: String? = nil) throws -> (status: Int, body: String) {
        try SimpleHTTP.request("GET", port: httpPort, path: path, body: nil, token: token ?? self.token)
    }

    func httpSend(_ method: String, _ path: String, json: String, token: String? = nil) throws -> (status: Int, body: String) {
        try SimpleHTTP.request(method, port: httpPort, path: path, body: json, token: token ?? self.token)
    }
}

/// A minimal HTTP/1.1 GET over a socket, enough to poll a local process without pulling in an HTTP client.
enum SimpleHTTP {
    static func request(_ method: String, port: Int, path: String, body: String?,
                        token: String? = nil) throws -> (status: Int, body: String) {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            request += "\r\n"
        }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else {
            throw TestFailure("no HTTP response from 127.0.0.1:\(port)\(path)")
        }
        guard let end = text.range(of: "\r\n\r\n") else { return (status, "") }
        let head = text[..<end.lowerBound].lowercased()
        let body = String(text[end.upperBound...])
        return (status, head.contains("transfer-encoding: chunked") ? dechunked(body) : body)
    }

    /// The body of a chunked response (a streamed one): each chunk is its size in hex, CRLF, the bytes, CRLF.
    static func dechunked(_ body: String) -> String {
        var bytes = Array(body.utf8)[...]
        var out: [UInt8] = []
        while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")),
              let size = Int(String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16),
              size > 0, lineEnd + 2 + size <= bytes.endIndex {
            out += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
            bytes = bytes[min(lineEnd + 2 + size + 2, bytes.endIndex)...]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
