import API
import Access
import Alarms
import ArgumentParser
import Foundation
import Hummingbird
import Ingest
import Logging
import MQTT
import Metrics
import Models
import Postgres
import Prometheus
import Registry
import ServiceLifecycle
import Storage

/// `cip-gateway serve`: ingest from the broker, store in PostgreSQL, answer the read API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway: MQTT ingest, storage and the HTTP API.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(name: .customLong("http-host"), help: "Address the API listens on (env HTTP_HOST).")
    var httpHost: String = ProcessInfo.processInfo.environment["HTTP_HOST"] ?? "127.0.0.1"

    @Option(name: .customLong("http-port"), help: "Port the API listens on (env HTTP_PORT).")
    var httpPort: Int = ProcessInfo.processInfo.environment["HTTP_PORT"].flatMap(Int.init) ?? 8080

    @Option(name: .customLong("journal-dir"), help: "Directory of the ingest journal (env JOURNAL_DIR).")
    var journalDirectory: String = ProcessInfo.processInfo.environment["JOURNAL_DIR"] ?? ".stack/journal"

    @Option(name: .customLong("mqtt-client-id"),
            help: "Fixed client id of the gateway's persistent MQTT session (env MQTT_CLIENT_ID), within the account's namespace: <user>/<id>; the control connection adds /control.")
    var clientID: String = ProcessInfo.processInfo.environment["MQTT_CLIENT_ID"] ?? "ingest"

    @Option(name: .customLong("data-models"), help: "The catalogue directory (env CIP_DATA_MODELS; default: ./DataModels or next to the binary).")
    var dataModels: String? = ProcessInfo.processInfo.environment["CIP_DATA_MODELS"]

    @Option(help: "Largest payload accepted, in bytes; larger ones are dead-lettered.")
    var maxPayloadBytes: Int = 256 * 1024

    @Option(help: "Observed times before this many seconds since 1970 are refused per record (default 946684800 = 2000-01-01).")
    var earliestObservedTime: Double = IngestBounds().earliestObservedTime

    @Option(help: "Observed times more than this many seconds after arrival are refused per record (events keep their arrival time).")
    var maxFutureSkewSeconds: Double = IngestBounds().maxFutureSkewSeconds

    @Option(help: "Most messages written in one database transaction (env CIP_MAX_BATCH_MESSAGES).")
    var maxBatchMessages: Int = ProcessInfo.processInfo.environment["CIP_MAX_BATCH_MESSAGES"].flatMap(Int.init)
        ?? IngestPipeline.Configuration().maxBatchMessages

    @Option(help: "Milliseconds within which telemetry reaches the disk (alarms and status: before the PUBACK).")
    var journalSyncMilliseconds: Int = 5

    @Option(help: "Seconds of silence beyond heartbeat × 1.5 before a device is offline (env CIP_HEARTBEAT_GRACE).")
    var heartbeatGrace: Double = ProcessInfo.processInfo.environment["CIP_HEARTBEAT_GRACE"].flatMap(Double.init) ?? 10

    @Option(help: "Seconds ingest must be caught up before silence counts, after a start or a broker outage (env CIP_SUPERVISION_SETTLE).")
    var supervisionSettle: Double = ProcessInfo.processInfo.environment["CIP_SUPERVISION_SETTLE"].flatMap(Double.init) ?? 10

    @Option(help: "Seconds to acknowledge an alarm, per priority: 1=60,2=300,... (env CIP_ALARM_ACK_TARGETS).")
    var alarmAckTargets: String = ProcessInfo.processInfo.environment["CIP_ALARM_ACK_TARGETS"] ?? "1=60,2=300,3=900,4=3600,5=14400"

    @Option(help: "Administer the broker's dynamic security (device clients, onboarding claims): on or off (env CIP_BROKER_CONTROL).")
    var brokerControl: String = ProcessInfo.processInfo.environment["CIP_BROKER_CONTROL"] ?? "on"

    var supervisionConfiguration: Supervisor.Configuration {
        var configuration = Supervisor.Configuration()
        configuration.tracker.graceSeconds = heartbeatGrace
        configuration.settleTime = .milliseconds(Int(supervisionSettle * 1000))
        return configuration
    }

    func run() async throws {
        Observability.bootstrapLogging()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "cip.gateway")
        let catalogue = try loadCatalogue(logger: logger)
        let normalizer = try loadNormalizer(catalogue)
        guard let targets = AlarmRules.parseTargets(alarmAckTargets) else {
            throw StartupError(description: "--alarm-ack-targets \"\(alarmAckTargets)\": expected priority=seconds pairs such as 1=60,2=300")
        }

        var bounds = IngestBounds()
        bounds.earliestObservedTime = earliestObservedTime
        bounds.maxFutureSkewSeconds = maxFutureSkewSeconds
        let services = try GatewayServices(
            databaseURL: database.url, brokerConfiguration: try broker.configuration(clientID: clientID, cleanSession: false),
            journalDirectory: journalDirectory, journalSync: .milliseconds(journalSyncMilliseconds),
            maxPayloadBytes: maxPayloadBytes, maxBatchMessages: maxBatchMessages, bounds: bounds, catalogue: normalizer,
            supervision: supervisionConfiguration, alarmRules: AlarmRules(catalogue: catalogue, acknowledgeTargets: targets),
            brokerControl: brokerControl == "off" ? nil : try broker.configuration(clientID: clientID + "/control", cleanSession: true),
            logger: logger)
        let app = buildApplication(
            host: httpHost, port: httpPort,
            dependencies: services.apiDependencies(catalogue: catalogue, metrics: { registry.emitToBuffer() }),
            services: services.background, logger: logger)
        logger.info("catalogue loaded", metadata: [
            "quantities": "\(catalogue.quantities.count)", "events": "\(catalogue.events.count)",
            "deviceTypes": "\(catalogue.deviceTypes.count)",
        ])
        logger.info("cip-gateway serving", metadata: ["http": "\(httpHost):\(httpPort)", "journal": "\(journalDirectory)"])
        try await app.runService()
    }
}

extension Serve {
    /// A catalogue that does not load stops the gateway, with every problem named by file, entry and field.
    func loadCatalogue(logger: Logger) throws -> Catalogue {
        do {
            if let dataModels { return try Catalogue.load(from: URL(fileURLWithPath: dataModels)) }
            return try Catalogue.loadDefault()
        } catch {
            throw StartupError(description: "the catalogue in DataModels/ does not load:\n\(error.description)")
        }
    }

    /// The adapters over the catalogue, with the vendor mappings in `DataModels/mappings`.
    func loadNormalizer(_ catalogue: Catalogue) throws -> CatalogueNormalizer {
        let directory = dataModels.map { URL(fileURLWithPath: $0) } ?? Catalogue.locateDataModels()
        guard let directory else { throw StartupError(description: "DataModels/ not found") }
        do {
            let mappings = try VendorMapping.loadAll(from: directory.appendingPathComponent("mappings"))
            return try CatalogueNormalizer(catalogue: catalogue, mappings: mappings)
        } catch {
            throw StartupError(description: "the vendor mappings in DataModels/mappings do not load:\n\(error)")
        }
    }
}

/// Why the gateway cannot start; ArgumentParser prints it as `Error: ...` and exits non-zero.
struct StartupError: Error, CustomStringConvertible {
    var description: String
}

/// The gateway's parts, wired together; `serve` and `bench` both run them.
struct GatewayServices {
    let journal: Journal
    let ingestPool: PostgresPool
    let apiPool: PostgresPool
    /// Token lookups only: a flood of guessed tokens waits here, never for the routes' connections.
    let tokenPool: PostgresPool
    let pipeline: IngestPipeline
    let ingress: MQTTIngress
    let maintenance: PartitionMaintenance
    let directoryListener: DirectoryListener
    let supervisor: Supervisor?
    let brokerControl: BrokerControl?
    let alarmEngine: AlarmEngine?
    let fastPath: EventFastPath?
    let alarmFeed: AlarmFeed
    let auditTrail: AuditTrail

    init(databaseURL: String, brokerConfiguration: MQTTClient.Configuration, journalDirectory: String,
         journalSync: Duration, maxPayloadBytes: Int, maxBatchMessages: Int, bounds: IngestBounds = IngestBounds(),
         catalogue: CatalogueNormalizer? = nil,
         supervision: Supervisor.Configuration = .init(), alarmRules: AlarmRules? = nil, brokerControl: MQTTClient.Configuration? = nil,
         logger: Logger) throws {
        var journalConfiguration = Journal.Configuration(directory: journalDirectory)
        journalConfiguration.syncInterval = journalSync
        journal = try Journal(configuration: journalConfiguration, logger: logger)
        // Two: the next batch's unknown-device lookup need not wait for the current batch's write.
        ingestPool = PostgresPool(url: databaseURL, size: 2, logger: logger)
        let apiPool = PostgresPool(url: databaseURL, size: 4, logger: logger)
        self.apiPool = apiPool
        tokenPool = PostgresPool(url: databaseURL, size: 2, logger: logger)
        var pipelineConfiguration = IngestPipeline.Configuration()
        pipelineConfiguration.maxBatchMessages = maxBatchMessages
        pipelineConfiguration.normalizer.maxPayloadBytes = maxPayloadBytes
        pipelineConfiguration.normalizer.bounds = bounds
        pipelineConfiguration.normalizer.trapOnPayload = ProcessInfo.processInfo.environment["CIP_TEST_TRAP_PAYLOAD"]
            .map { Array($0.utf8) }
        let migrations = try Migration.bundled()
        let directory = DeviceDirectory()
        let journal = self.journal
        // Events (alarms) also take the fast path, on a pool of their own, so they never queue behind telemetry.
        let fastPath = catalogue.map { catalogue in
            EventFastPath(pool: PostgresPool(url: databaseURL, size: 1, logger: logger),
                          normalizer: Normalizer(limits: pipelineConfiguration.normalizer, catalogue: catalogue),
                          directory: directory, logger: logger, guardDirectory: journalDirectory)
        }
        self.fastPath = fastPath
        let ingress = try MQTTIngress(configuration: brokerConfiguration, journal: journal, logger: logger, fastPath: fastPath)
        self.ingress = ingress
        let supervisor = catalogue.map { catalogue in
            Supervisor(pool: apiPool, catalogue: catalogue.catalogue, directory: directory, configuration: supervision,
                       logger: logger) {
                ingress.isConnected && journal.backlog < 10_000
            }
        }
        self.supervisor = supervisor
        pipeline = IngestPipeline(journal: journal, pool: ingestPool, configuration: pipelineConfiguration,
                                  logger: logger, catalogue: catalogue, directory: directory,
                                  observers: supervisor.map { [$0] } ?? []) { connection in
            try Migrator(migrations: migrations, logger: logger).migrate(connection)
            try Migrator.ensurePartitions(connection)
        }
        maintenance = PartitionMaintenance(pool: apiPool, logger: logger)
        directoryListener = DirectoryListener(url: databaseURL, directory: pipeline.directory, logger: logger)
        self.brokerControl = try brokerControl.map { try BrokerControl(configuration: $0, pool: apiPool, logger: logger) }
        alarmEngine = alarmRules.map { AlarmEngine(url: databaseURL, rules: $0, logger: logger) }
        alarmFeed = AlarmFeed(url: databaseURL, logger: logger)
        auditTrail = AuditTrail(pool: apiPool, logger: logger)
    }

    /// In start order; the service group stops them in reverse, so the ingress stops before the pipeline drains.
    var background: [any Service] {
        var services: [any Service] = [pipeline, directoryListener]
        if let supervisor { services.append(supervisor) }
        if let alarmEngine { services.append(alarmEngine) }
        if let fastPath { services.append(fastPath) }
        services += [alarmFeed, auditTrail, ingress] as [any Service]
        if let brokerControl { services.append(brokerControl) }
        services.append(maintenance)
        return services
    }

    func apiDependencies(catalogue: Catalogue, metrics: @escaping @Sendable () -> [UInt8]) -> APIDependencies {
        let pool = apiPool
        let ingress = self.ingress
        let journal = self.journal
        return APIDependencies(
            catalogue: catalogue,
            telemetry: PostgresTelemetryRepository(pool: pool),
            devices: PostgresDeviceRepository(pool: pool),
            authenticator: CachingClientAuthenticator(store: ClientStore(pool: tokenPool)),
            auditTrail: auditTrail,
            openData: PostgresOpenDataRepository(pool: pool),
            broker: brokerControl,
            alarms: PostgresAlarmRepository(pool: pool),
            alarmFeed: alarmFeed,
            readiness: [
                ReadinessCheck(name: "database") {
                    do {
                        try await pool.withConnection { try $0.query("SELECT 1 FROM schema_migrations LIMIT 1") }
                        return nil
                    } catch {
                        return "\(error)"
                    }
                },
                ReadinessCheck(name: "broker") {
                    ingress.isConnected ? nil : "not connected to the MQTT broker"
                },
                ReadinessCheck(name: "broker-control") { [brokerControl] in
                    brokerControl.map { $0.isConnected ? nil : "the control connection to the broker is down" } ?? nil
                },
                ReadinessCheck(name: "journal") {
                    journal.backlog > 1_000_000 ? "journal backlog is \(journal.backlog) messages" : nil
                },
            ],
            metrics: metrics)
    }
}

/// Creates tomorrow's partitions ahead of time, hourly.
struct PartitionMaintenance: Service {
    let pool: PostgresPool
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
            if Task.isShuttingDownGracefully { break }
            do {
                try await pool.withConnection { try Migrator.ensurePartitions($0) }
            } catch {
                logger.warning("partition maintenance failed; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}
