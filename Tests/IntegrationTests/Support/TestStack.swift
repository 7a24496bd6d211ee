import Foundation
import Logging
import MQTT
import Models
@testable import Postgres
import Storage

/// The real local stack that `Gateway/stack up` started (see Gateway/test).
enum TestStack {
    static let environment = ProcessInfo.processInfo.environment
    /// The gateway's own login (least privilege: role cip_gateway).
    static let databaseURL = environment["DATABASE_URL"] ?? "postgresql://cip:cip@127.0.0.1:54329/cip"
    /// The database's owner: migrations, test databases, and tests' own setup and checks.
    static let ownerURL = environment["DATABASE_OWNER_URL"] ?? "postgresql://cip_owner:cip_owner@127.0.0.1:54329/cip"
    static let mqttURL = environment["MQTT_URL"] ?? "mqtt://127.0.0.1:18830"
    static let logger: Logger = {
        var logger = Logger(label: "cip.test")
        logger.logLevel = .warning
        return logger
    }()

    static func broker() throws -> MQTTURL { try MQTTURL(parsing: mqttURL) }

    /// The stack's broker accounts (Gateway/stack writes them to .stack/env): the gateway's, the trusted
    /// bridge's (publishes as any device) and the shared bootstrap account of new devices.
    static let gatewayAccount = (username: environment["MQTT_USERNAME"], password: environment["MQTT_PASSWORD"])
    static let bridgeAccount = (username: environment["MQTT_BRIDGE_USERNAME"], password: environment["MQTT_BRIDGE_PASSWORD"])
    static let bootstrapAccount = (username: environment["MQTT_BOOTSTRAP_USERNAME"] ?? "bootstrap",
                                   password: environment["MQTT_BOOTSTRAP_PASSWORD"] ?? "bootstrap")

    /// A client configuration for the test broker with an account; the client id is put in the account's
    /// namespace (`<user>/<id>`), which the broker requires. Tests of the rule itself build configurations by hand.
    static func mqtt(_ clientID: String, _ account: (username: String?, password: String?),
                     cleanSession: Bool = true) throws -> MQTTClient.Configuration {
        MQTTClient.Configuration(url: try broker(), clientID: ClientIDNamespace.qualify(clientID, for: account.username),
                                 cleanSession: cleanSession, username: account.username, password: account.password)
    }

    /// The repository's own catalogue.
    static func catalogue() throws -> Catalogue {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return try Catalogue.load(from: root.appendingPathComponent("DataModels"))
    }

    /// Runs `Gateway/stack <command>` (for example `db-stop`).
    static func stack(_ command: String) throws {
        let script = environment["CIP_STACK_SCRIPT"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Gateway/stack").path
        let status = try ChildProcess(["/bin/bash", script, command], environment: environment, logPath: nil).wait()
        guard status == 0 else { throw TestFailure("Gateway/stack \(command) exited with \(status)") }
    }

    /// A unique name for databases, client ids and directories of one test.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A database of its own for one test, with the gateway's schema. `url` is the gateway's least-privileged login
/// (give it to gateways and repositories); `connect()` is the owner's, for the test's own setup and checks.
struct TestDatabase {
    let name: String
    let url: String
    var ownerURL: String { PostgresURL.withDatabase(TestStack.ownerURL, name) }

    init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    /// An empty database, without the gateway's schema.
    static func createEmpty() throws -> TestDatabase {
        let name = TestStack.uniqueName("cip_test")
        let admin = try PostgresConnection(url: TestStack.ownerURL)
        try admin.execute("CREATE DATABASE \(name)")
        admin.close()
        return TestDatabase(name: name, url: PostgresURL.withDatabase(TestStack.databaseURL, name))
    }

    static func create() throws -> TestDatabase {
        let database = try createEmpty()
        let connection = try database.connect()
        try Migrator(migrations: try Migration.bundled(), logger: TestStack.logger).migrate(connection)
        try Migrator.ensurePartitions(connection)
        return database
    }

    func connect() throws -> PostgresConnection { try PostgresConnection(url: ownerURL) }

    /// The first column of the statement's one row as an integer; -1 when it returns no row (yet).
    func count(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws -> Int {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query(sql, parameters).first?.decode(column: 0) ?? -1
    }

    /// The first column of every row as text (for failure messages).
    func strings(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws -> [String] {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query(sql, parameters).all.map { try $0.decode(column: 0) }
    }

    /// Registers devices straight in the registry (as an import would), active unless told otherwise: the
    /// gateway quarantines messages from ids it does not know.
    @discardableResult
    func register(_ ids: [String], type: String = "sensor", model: String? = nil, state: String = "active") throws -> [String] {
        let connection = try connect()
        defer { connection.close() }
        try connection.query("""
            INSERT INTO devices (device_id, serial_number, type, model, tenant, lifecycle_state)
            SELECT id, 'SN-' || id, $2, $3, 'test', $4 FROM unnest($1::text[]) AS id
            """, [PostgresArray.text(ids), type, model, state])
        return ids
    }

    func drop() {
        guard let admin = try? PostgresConnection(url: TestStack.ownerURL) else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        admin.close()
    }
}

/// Waits until `condition` holds, polling without blocking a thread; false on timeout.
func eventually(timeout: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try condition()
}

/// The blocking form, for code that runs on threads of its own.
func eventuallyBlocking(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return try condition()
}

/// A device-like publisher on the real broker.
func makePublisher(_ name: String) throws -> MQTTClient {
    let client = try MQTTClient(configuration: try TestStack.mqtt(TestStack.uniqueName(name), TestStack.bridgeAccount),
                                logger: TestStack.logger)
    try client.connect()
    return client
}
