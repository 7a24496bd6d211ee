import API
import Foundation
import Access
import Alarms
import Ingest
import Locks
import Logging
import MQTT
import Models
import NGSILD
import Notifications
import Postgres
import Registry
import Retention
import SafeZones
import ServiceLifecycle
import Storage

/// The gateway's parts, wired together: `cip-gateway serve` runs them all, the benchmarks of `cip-bench` start
/// the ones they measure in-process.
public struct GatewayServices {
    public let journal: Journal
    public let ingestPool: PostgresPool
    public let apiPool: PostgresPool
    let notificationPool: PostgresPool
    let subscriptions: PostgresSubscriptions
    let notificationEndpoints: NotificationEndpoints
    let notificationMatcher: NotificationMatcher?
    let notificationDelivery: NotificationDelivery
    /// Token lookups only: a flood of guessed tokens waits here, never for the routes' connections.
    public let tokenPool: PostgresPool
    /// The event fast path's own connection.
    let fastPathPool: PostgresPool
    /// The alarm engine's, the alarm feed's and the lock monitor's connections.
    let alarmPool: PostgresPool
    /// The one LISTEN connection of the process (directory, alarm engine, alarm feed wake on it).
    let listener: PostgresListener
    public let pipeline: IngestPipeline
    public let ingress: MQTTIngress
    /// The thread the alarm path's services run on.
    let alarmPath = ThreadExecutor(name: "cip-alarm-path")
    let maintenance: PartitionMaintenance
    public let directoryListener: DirectoryListener
    public let supervisor: Supervisor?
    public let brokerControl: BrokerControl?
    public let alarmEngine: AlarmEngine?
    public let fastPath: EventFastPath?
    public let alarmFeed: AlarmFeed
    public let auditTrail: AuditTrail
    /// Lock events after they are stored: command answers, event numbering, unplanned unlocks.
    public let lockMonitor: LockMonitor
    /// Publishes lock commands; nil without the broker control connection (commands are then not offered).
    public let commandDispatcher: CommandDispatcher?
    /// Publishes locks' grant lists; nil without the broker control connection.
    public let grantListPublisher: GrantListPublisher?
    /// Safe zones evaluated on every committed batch of positions.
    public let geofenceMonitor: GeofenceMonitor
    /// Deletes what may no longer be kept; nil without the catalogue (which says how long values are kept).
    public let retention: RetentionService?
    let retentionSettings: RetentionSettings
    /// Retention's own connection: its long scans never hold one of the API's.
    let retentionPool: PostgresPool

    public init(databaseURL: String, brokerConfiguration: MQTTClient.Configuration, journalDirectory: String,
         journalSync: Duration, maxPayloadBytes: Int, maxBatchMessages: Int, bounds: IngestBounds = IngestBounds(),
         catalogue: CatalogueNormalizer? = nil,
         supervision: Supervisor.Configuration = .init(), alarmRules: AlarmRules? = nil, brokerControl: MQTTClient.Configuration? = nil,
         grantLists: GrantListPublisher.Configuration = .init(), geofence: GeofenceMonitor.Configuration = .init(),
         retention: (settings: RetentionSettings, configuration: RetentionService.Configuration)? = nil,
         deviceCertificates: DeviceCertificates.Configuration? = nil,
         notificationEndpoints: NotificationEndpoints = .none,
         apiStatementObserver: StatementObserver? = nil,
         logger: Logger) throws {
        var journalConfiguration = Journal.Configuration(directory: journalDirectory)
        journalConfiguration.syncInterval = journalSync
        journal = try Journal(configuration: journalConfiguration, logger: logger)
        // Two: the next batch's unknown-device lookup need not wait for the current batch's write.
        ingestPool = PostgresPool(url: databaseURL, size: 2, logger: logger)
        let apiPool = PostgresPool(url: databaseURL, size: 4, logger: logger, observer: apiStatementObserver)
        self.apiPool = apiPool
        tokenPool = PostgresPool(url: databaseURL, size: 2, logger: logger)
        let fastPathPool = PostgresPool(url: databaseURL, size: 1, logger: logger)
        let alarmPool = PostgresPool(url: databaseURL, size: 3, logger: logger)
        self.alarmPool = alarmPool
        let listener = PostgresListener(url: databaseURL, logger: logger)
        self.listener = listener
        self.fastPathPool = fastPathPool
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
            EventFastPath(pool: fastPathPool,
                          normalizer: Normalizer(limits: pipelineConfiguration.normalizer, catalogue: catalogue),
                          directory: directory, logger: logger, guardDirectory: journalDirectory)
        }
        self.fastPath = fastPath
        // Fault injection for the test that pins the PUBACK after the journal append (never set in production).
        let appendDelay = ProcessInfo.processInfo.environment["CIP_TEST_JOURNAL_APPEND_DELAY_MS"].flatMap(Double.init).map { $0 / 1000 }
        let ingress = try MQTTIngress(configuration: brokerConfiguration, journal: journal, logger: logger, fastPath: fastPath,
                                      appendDelaySeconds: appendDelay)
        self.ingress = ingress
        let supervisor = catalogue.map { catalogue in
            Supervisor(pool: apiPool, catalogue: catalogue.catalogue, directory: directory, configuration: supervision,
                       logger: logger,
                       isCaughtUp: { ingress.isConnected && journal.backlog < 10_000 },
                       activate: { [devices = PostgresDeviceRepository(pool: apiPool)] ids in
                           try await devices.activateOnFirstMessage(ids)
                       })
        }
        self.supervisor = supervisor
        let geofenceMonitor = GeofenceMonitor(zones: PostgresZoneRepository(pool: apiPool), pool: alarmPool,
                                              configuration: geofence, logger: logger)
        self.geofenceMonitor = geofenceMonitor
        pipeline = IngestPipeline(journal: journal, pool: ingestPool, configuration: pipelineConfiguration,
                                  logger: logger, catalogue: catalogue, directory: directory,
                                  observers: (supervisor.map { [$0] } ?? []) + [geofenceMonitor]) { connection in
            try Migrator(migrations: migrations, logger: logger).migrate(connection)
            try Migrator.ensurePartitions(connection)
        }
        maintenance = PartitionMaintenance(pool: apiPool, logger: logger)
        directoryListener = DirectoryListener(listener: listener, pool: apiPool, directory: pipeline.directory, logger: logger)
        let certificates = try deviceCertificates.map { try DeviceCertificates(configuration: $0, pool: apiPool, logger: logger) }
        if certificates != nil, brokerControl == nil {
            throw StartupError(description: "a device CA needs broker control (--broker-control on): the broker must be told about revocations")
        }
        self.brokerControl = try brokerControl.map {
            try BrokerControl(configuration: $0, devices: PostgresDeviceRepository(pool: apiPool), logger: logger, certificates: certificates)
        }
        alarmEngine = alarmRules.map { AlarmEngine(pool: alarmPool, listener: listener, rules: $0, logger: logger) }
        alarmFeed = AlarmFeed(pool: alarmPool, listener: listener, logger: logger)
        auditTrail = AuditTrail(pool: apiPool, logger: logger)
        lockMonitor = LockMonitor(pool: alarmPool, listener: listener, logger: logger)
        commandDispatcher = self.brokerControl.map { control in
            CommandDispatcher(commands: PostgresCommandRepository(pool: apiPool),
                              publish: { topic, payload in try await control.publishAcknowledged(topic: topic, payload: payload) },
                              logger: logger)
        }
        let retentionPool = PostgresPool(url: databaseURL, size: 1, logger: logger)
        self.retentionPool = retentionPool
        retentionSettings = retention?.settings ?? RetentionSettings()
        self.retention = catalogue.flatMap { catalogue in
            retention.map { retention in
                RetentionService(plan: RetentionPlan(catalogue: catalogue.catalogue, settings: retention.settings),
                                 store: PostgresRetentionStore(pool: retentionPool), configuration: retention.configuration,
                                 ingestIsBehind: { journal.backlog > 1_000 }, logger: logger)
            }
        }
        let lockTypes = catalogue.map { Self.lockTypes($0.catalogue) } ?? ["digital-lock"]
        grantListPublisher = self.brokerControl.map { control in
            GrantListPublisher(lists: PostgresGrantListRepository(pool: apiPool),
                               publish: { topic, payload in try await control.publishAcknowledged(topic: topic, payload: payload, retain: true) },
                               lockTypes: lockTypes, configuration: grantLists, logger: logger)
        }
        // NGSI-LD notifications: a pool of their own, so that a slow endpoint or a long match never holds the API's.
        let notificationPool = PostgresPool(url: databaseURL, size: 2, logger: logger)
        self.notificationPool = notificationPool
        subscriptions = PostgresSubscriptions(pool: apiPool)
        self.notificationEndpoints = notificationEndpoints
        let outbox = PostgresSubscriptions(pool: notificationPool)
        notificationMatcher = catalogue.map { NotificationMatcher(store: outbox, vocabulary: OpenVocabulary(catalogue: $0.catalogue), logger: logger) }
        var publish: NotificationDelivery.Publish?
        if let control = self.brokerControl {
            publish = { topic, payload in try await control.publishAcknowledged(topic: topic, payload: payload) }
        }
        notificationDelivery = NotificationDelivery(store: outbox, endpoints: notificationEndpoints, publish: publish, logger: logger)
    }

    /// A lock is a device type that reports a lock state.
    public static func lockTypes(_ catalogue: Catalogue) -> [String] {
        catalogue.deviceTypes.filter { $0.quantities.contains("lock_state") }.map(\.id).sorted()
    }

    /// In start order; the service group stops them in reverse, so the ingress stops before the pipeline drains.
    public var background: [any Service] {
        // The pools first: a service group stops in reverse order, so they close after everything that uses them.
        var services: [any Service] = [ingestPool, apiPool, tokenPool, fastPathPool, alarmPool, retentionPool, notificationPool, listener]
        services += [pipeline, directoryListener] as [any Service]
        if let supervisor { services.append(supervisor) }
        // The alarm path (fast path → alarm engine → live feed) runs on a thread of its own: under heavy telemetry
        // the cooperative pool's threads are busy, and each step would wait for one.
        if let alarmEngine { services.append(OnExecutor(alarmEngine, alarmPath)) }
        if let fastPath { services.append(OnExecutor(fastPath, alarmPath)) }
        services += [OnExecutor(alarmFeed, alarmPath), auditTrail, ingress] as [any Service]
        if let brokerControl { services.append(brokerControl) }
        services.append(lockMonitor)
        services.append(geofenceMonitor)
        if let commandDispatcher { services.append(commandDispatcher) }
        if let grantListPublisher { services.append(grantListPublisher) }
        services.append(maintenance)
        if let retention { services.append(retention) }
        if let notificationMatcher { services.append(notificationMatcher) }
        services.append(notificationDelivery)
        return services
    }

    public func apiDependencies(catalogue: Catalogue, alarmVisits: AlarmVisitTimes = .standard,
                                grantListStaleAfterMicros: Int64 = 600_000_000,
                                metrics: @escaping @Sendable () -> [UInt8]) -> APIDependencies {
        let pool = apiPool
        let ingress = self.ingress
        let journal = self.journal
        var dependencies = APIDependencies(
            catalogue: catalogue,
            telemetry: PostgresTelemetryRepository(pool: pool),
            devices: PostgresDeviceRepository(pool: pool),
            authenticator: CachingClientAuthenticator(store: ClientStore(pool: tokenPool)),
            auditTrail: auditTrail,
            openData: PostgresOpenDataRepository(pool: pool),
            broker: brokerControl,
            alarms: PostgresAlarmRepository(pool: pool, visits: AlarmVisits(grants: PostgresAlarmVisitGrants(), times: alarmVisits)),
            alarmFeed: alarmFeed,
            grants: PostgresGrantRepository(pool: pool),
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
                ReadinessCheck(name: "journal") { [pipeline] in
                    if journal.backlog > 1_000_000 { return "journal backlog is \(journal.backlog) messages" }
                    // Without its file the crash-loop guard cannot work: say so rather than run unguarded quietly.
                    return pipeline.replayGuardIsWritable ? nil : "the replay guard file in the journal directory cannot be written"
                },
            ],
            metrics: metrics)
        if let retention {
            dependencies.retentionSettings = retentionSettings
            dependencies.retentionReport = { retention.report }
        }
        dependencies.subjectAccess = PostgresSubjectAccessRepository(pool: pool)
        dependencies.lockReports = PostgresLockReportRepository(pool: pool)
        dependencies.zones = PostgresZoneRepository(pool: pool)
        if grantListPublisher != nil {
            dependencies.grantLists = PostgresGrantListRepository(pool: pool)
            dependencies.grantListStaleAfterMicros = grantListStaleAfterMicros
        }
        if let commandDispatcher {
            dependencies.lockCommands = PostgresCommandRepository(pool: pool)
            dependencies.commandStored = { commandDispatcher.signal() }
        }
        dependencies.subscriptions = subscriptions
        dependencies.notificationEndpoints = notificationEndpoints
        dependencies.openDataWriter = PostgresExternalEntities(pool: pool) { values, key, receivedAt, connection in
            try IngestStore.insertOpenValues(values, messageKey: key, receivedAtMicros: receivedAt, on: connection)
        }
        return dependencies
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

/// Alarm grants written in the alarm repository's transaction, through the one home of `lock_grants`.
struct PostgresAlarmVisitGrants: AlarmVisitGrants {
    func grant(staffRef: String, lockIds: [String], alarmId: Int64, fromMicros: Int64, toMicros: Int64, grantedBy: String,
               reason: String, in connection: PostgresConnection) throws -> [ResponderGrant] {
        try PostgresGrantRepository.createAlarmGrants(staffRef: staffRef, lockIds: lockIds, alarmId: alarmId, fromMicros: fromMicros,
                                                      toMicros: toMicros, grantedBy: grantedBy, reason: reason, on: connection)
            .map(ResponderGrant.init)
    }

    func end(alarmId: Int64, atMicros: Int64, by: String, in connection: PostgresConnection) throws -> [ResponderGrant] {
        try PostgresGrantRepository.endAlarmGrants(alarmId: alarmId, atMicros: atMicros, by: by, on: connection).map(ResponderGrant.init)
    }
}

extension ResponderGrant {
    init(_ grant: AccessGrant) {
        self.init(id: grant.id, lockId: grant.deviceId, staffRef: grant.staffRef, validFromMicros: grant.validFromMicros ?? 0,
                  validToMicros: grant.validToMicros ?? 0, revokedAtMicros: grant.revokedAtMicros)
    }
}

/// Runs a service with every step on `executor` (its awaits resume there, not on the cooperative pool).
struct OnExecutor: Service {
    let service: any Service
    let executor: ThreadExecutor

    init(_ service: any Service, _ executor: ThreadExecutor) {
        self.service = service
        self.executor = executor
    }

    func run() async throws {
        try await withTaskExecutorPreference(executor) { try await service.run() }
    }
}
