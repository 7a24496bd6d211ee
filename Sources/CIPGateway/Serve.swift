import API
import Alarms
import ArgumentParser
import CMalloc
import Composition
import Foundation
import Hummingbird
import Ingest
import Logging
import Metrics
import Models
import Prometheus
import ServiceLifecycle

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

    @OptionGroup var alarmVisits: AlarmVisitOptions

    @OptionGroup var grantLists: GrantListOptions

    @OptionGroup var geofence: GeofenceOptions

    @OptionGroup var retention: RetentionOptions

    @OptionGroup var deviceCA: DeviceCAOptions

    @OptionGroup var https: HTTPSOptions

    @OptionGroup var cipTier: CIPTierOptions

    /// glibc gives threads that allocate at the same time arenas of their own (up to 8 per core), each keeping what
    /// was freed in it: measured with 100,000 devices under load (`bench-memory`), a peak of 330–376 MB with the
    /// default and 282–284 MB with two set here (248 MB with `MALLOC_ARENA_MAX=2` from the start). Two, unless
    /// `MALLOC_ARENA_MAX` says otherwise.
    static func limitMallocArenas() {
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil else { return }
        _ = mallopt(M_ARENA_MAX, 2)
    }

    var supervisionConfiguration: Supervisor.Configuration {
        var configuration = Supervisor.Configuration()
        configuration.tracker.graceSeconds = heartbeatGrace
        configuration.settleTime = .milliseconds(Int(supervisionSettle * 1000))
        return configuration
    }

    func run() async throws {
        Self.limitMallocArenas()
        Observability.bootstrapLogging()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "cip.gateway")
        let catalogue = try DataModelsLoader.catalogue(at: dataModels)
        let normalizer = try DataModelsLoader.normalizer(catalogue, at: dataModels)
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
            grantLists: try grantLists.publisher(), geofence: try geofence.configuration(),
            retention: try retention.retention(catalogue: catalogue), deviceCertificates: try deviceCA.configuration(),
            notificationEndpoints: cipTier.endpoints(broker: brokerControl == "off" ? nil : try broker.parsedURL().authority),
            logger: logger)
        let tls = try https.files()
        var dependencies = services.apiDependencies(catalogue: catalogue, alarmVisits: try alarmVisits.times(),
                                                    grantListStaleAfterMicros: try grantLists.staleAfterMicros(),
                                                    metrics: { registry.emitToBuffer() })
        dependencies.publicBaseURL = try cipTier.baseURL()
        let app = try buildApplication(
            host: httpHost, port: httpPort,
            dependencies: dependencies,
            services: services.background, tls: tls, logger: logger)
        logger.info("catalogue loaded", metadata: [
            "quantities": "\(catalogue.quantities.count)", "events": "\(catalogue.events.count)",
            "deviceTypes": "\(catalogue.deviceTypes.count)",
        ])
        logger.info("cip-gateway serving", metadata: ["\(tls == nil ? "http" : "https")": "\(httpHost):\(httpPort)", "journal": "\(journalDirectory)"])
        try await app.runService()
    }
}
