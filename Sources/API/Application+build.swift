import Access
import Alarms
import Foundation
import Hummingbird
import HummingbirdTLS
import Locks
import Logging
import NIOCore
import Models
import NGSILD
import Registry
import SafeZones
import ServiceLifecycle
import Telemetry

/// Everything the HTTP side needs from the rest of the gateway.
public struct APIDependencies: Sendable {
    public var catalogue: Catalogue
    public var telemetry: any TelemetryRepository
    public var devices: any DeviceRepository
    /// Resolves bearer tokens to clients. `serve` always sets it; nil leaves every route open, which only
    /// in-process tests of routes and bodies use.
    public var authenticator: (any ClientAuthenticator)?
    /// Open data for the CIP facade (NGSI-LD); nil where the facade does not run.
    public var openData: (any OpenDataRepository)?
    /// Writes of other city systems through the CIP tier; nil where they are not taken.
    public var openDataWriter: (any OpenDataWriter)?
    /// NGSI-LD subscriptions; nil where notifications are not sent.
    public var subscriptions: (any SubscriptionRepository)?
    /// Where notifications may go (checked when a subscription is made).
    public var notificationEndpoints: NotificationEndpoints = .none
    /// The gateway's address as clients reach it (`https://cip.example.se`), for the JSON-LD context URLs in
    /// responses; nil: `http://` and the request's `Host`.
    public var publicBaseURL: String?
    /// Where reads of class 2 and 3 data are recorded (with `authenticator`).
    public var auditTrail: AuditTrail?
    /// Alarms and their live stream; nil where the alarm side does not run.
    public var alarms: (any AlarmRepository)?
    /// Access grants of digital locks; nil where the lock side does not run.
    public var grants: (any GrantRepository)?
    /// Remote lock commands (with `grants`); nil where commands cannot reach locks (no broker control connection).
    public var lockCommands: (any CommandRepository)?
    /// Grant lists published to locks (the fleet view's stale ones); nil where none are published.
    public var grantLists: (any GrantListRepository)?
    /// How long a lock may take to confirm a new grant list before the fleet view calls it stale.
    public var grantListStaleAfterMicros: Int64 = 600_000_000
    /// Safe zones of GPS alarms; nil where they are not offered.
    public var zones: (any ZoneRepository)?
    /// Subject access exports (GDPR art. 15); nil where they are not offered.
    public var subjectAccess: (any SubjectAccessRepository)?
    /// The access log and the visits report (with `grants`).
    public var lockReports: (any LockReportRepository)?
    /// Wakes the command dispatcher after a command was stored.
    public var commandStored: @Sendable () -> Void = {}
    public var alarmFeed: AlarmFeed?
    /// Enforces lifecycle changes at the broker (dynamic security); nil where no broker is administered.
    public var broker: (any BrokerAccess)?
    /// How long a claim code issued at registration stays usable.
    public var claimValiditySeconds: Double = 30 * 24 * 3600
    public var readiness: [ReadinessCheck]
    /// What the retention service last did (a section of `/readyz`); nil where retention does not run.
    public var retentionReport: (@Sendable () -> RetentionReport)?
    /// How long what is not a catalogue value is kept (shown with the catalogue); nil where retention does not run.
    public var retentionSettings: RetentionSettings?
    public var metrics: @Sendable () -> [UInt8]

    public init(catalogue: Catalogue, telemetry: any TelemetryRepository, devices: any DeviceRepository,
                authenticator: (any ClientAuthenticator)? = nil, auditTrail: AuditTrail? = nil,
                openData: (any OpenDataRepository)? = nil, broker: (any BrokerAccess)? = nil, alarms: (any AlarmRepository)? = nil, alarmFeed: AlarmFeed? = nil,
                grants: (any GrantRepository)? = nil, lockCommands: (any CommandRepository)? = nil,
                lockReports: (any LockReportRepository)? = nil, zones: (any ZoneRepository)? = nil,
                subjectAccess: (any SubjectAccessRepository)? = nil,
                readiness: [ReadinessCheck] = [],
                metrics: @escaping @Sendable () -> [UInt8] = { [] }) {
        self.catalogue = catalogue
        self.telemetry = telemetry
        self.devices = devices
        self.authenticator = authenticator
        self.auditTrail = auditTrail
        self.openData = openData
        self.broker = broker
        self.alarms = alarms
        self.grants = grants
        self.lockCommands = lockCommands
        self.lockReports = lockReports
        self.zones = zones
        self.subjectAccess = subjectAccess
        self.alarmFeed = alarmFeed
        self.readiness = readiness
        self.metrics = metrics
    }
}

/// The request context of every route: Hummingbird's basics, the caller's address, the authenticated client,
/// and the gateway's JSON style.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by `AccessMiddleware` for routes that need a token.
    public var client: ClientIdentity?
    /// What the route returned, for the audit trail (set with `client`).
    public var audit: AuditNote?
    /// Token re-checks and audit lines for the alarm stream (set with `client`).
    public var streamAccess: StreamAccess?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// How every body is written: stable key order and unescaped slashes, so that bodies are easy to read and to diff.
    public var responseEncoder: BodyEncoder { BodyEncoder() }
}

/// The router with every tier's routes; used by `buildApplication` and by tests.
public func buildRouter(_ dependencies: APIDependencies) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    if let authenticator = dependencies.authenticator {
        router.add(middleware: AccessMiddleware(authenticator: authenticator, auditTrail: dependencies.auditTrail))
    }
    router.addRoutes(HealthController(readiness: dependencies.readiness, retention: dependencies.retentionReport,
                                      metrics: dependencies.metrics).routes)
    router.addRoutes(OpenAPIController().routes)
    router.addRoutes(MessagesController(repository: dependencies.telemetry, devices: dependencies.devices).routes, atPath: "/iot/v1")
    let registry = DeviceRegistry(repository: dependencies.devices, knownTypes: Set(dependencies.catalogue.deviceTypes.map(\.id)),
                                  claimValiditySeconds: dependencies.claimValiditySeconds, broker: dependencies.broker)
    router.addRoutes(DevicesController(registry: registry).routes, atPath: "/iot/v1")
    router.addRoutes(FleetController(repository: dependencies.devices, grantLists: dependencies.grantLists,
                                     grantListStaleAfterMicros: dependencies.grantListStaleAfterMicros).routes, atPath: "/iot/v1")
    router.addRoutes(ObservationsController(repository: dependencies.telemetry, devices: dependencies.devices).routes, atPath: "/integration/v1")
    router.addRoutes(ModelsController(catalogue: dependencies.catalogue, retention: dependencies.retentionSettings).routes,
                     atPath: "/integration/v1")
    if let openData = dependencies.openData {
        let vocabulary = OpenVocabulary(catalogue: dependencies.catalogue)
        router.addRoutes(NGSILDController(repository: openData, vocabulary: vocabulary, publicBaseURL: dependencies.publicBaseURL).routes,
                         atPath: "/ngsi-ld/v1")
        router.addRoutes(NGSILDTemporalController(repository: openData, vocabulary: vocabulary, publicBaseURL: dependencies.publicBaseURL,
                                                  clock: { systemMicros() }).routes, atPath: "/ngsi-ld/v1")
        if let subscriptions = dependencies.subscriptions {
            router.addRoutes(NGSILDSubscriptionsController(repository: subscriptions, vocabulary: vocabulary, endpoints: dependencies.notificationEndpoints,
                                                           publicBaseURL: dependencies.publicBaseURL, clock: { systemMicros() }).routes,
                             atPath: "/ngsi-ld/v1")
        }
        if let writer = dependencies.openDataWriter {
            router.addRoutes(NGSILDWriteController(writer: writer, reader: openData, vocabulary: vocabulary, publicBaseURL: dependencies.publicBaseURL,
                                                   clock: { systemMicros() }).routes, atPath: "/ngsi-ld/v1")
        }
    }
    if let auditTrail = dependencies.auditTrail {
        router.addRoutes(AuditController(trail: auditTrail).routes, atPath: "/integration/v1")
    }
    if let subjectAccess = dependencies.subjectAccess {
        router.addRoutes(SubjectAccessController(subjects: subjectAccess, clock: { systemMicros() }).routes, atPath: "/integration/v1")
    }
    // A lock is a device type that reports a lock state.
    let lockTypes = Set(dependencies.catalogue.deviceTypes.filter { $0.quantities.contains("lock_state") }.map(\.id))
    if let grants = dependencies.grants {
        router.addRoutes(LocksController(grants: grants, devices: dependencies.devices, schedule: GrantSchedule(),
                                         lockTypes: lockTypes, clock: { systemMicros() }).routes,
                         atPath: "/integration/v1")
        router.addRoutes(VisitPlansController(grants: grants, devices: dependencies.devices, lockTypes: lockTypes).routes,
                         atPath: "/integration/v1")
        if let reports = dependencies.lockReports {
            router.addRoutes(LockReportsController(reports: reports,
                                                   lookup: LockLookup(devices: dependencies.devices, lockTypes: lockTypes),
                                                   clock: { systemMicros() }).routes,
                             atPath: "/integration/v1")
        }
        if let commands = dependencies.lockCommands {
            router.addRoutes(LockCommandsController(commands: commands, grants: grants,
                                                    lookup: LockLookup(devices: dependencies.devices, lockTypes: lockTypes),
                                                    schedule: GrantSchedule(), clock: { systemMicros() },
                                                    dispatched: dependencies.commandStored).routes,
                             atPath: "/integration/v1")
        }
    }
    if let zones = dependencies.zones {
        let positionTypes = Set(dependencies.catalogue.deviceTypes.filter { $0.quantities.contains("position") }.map(\.id))
        router.addRoutes(SafeZonesController(zones: zones, devices: dependencies.devices, telemetry: dependencies.telemetry,
                                             positionTypes: positionTypes, clock: { systemMicros() }).routes,
                         atPath: "/integration/v1")
    }
    if let alarms = dependencies.alarms {
        router.addRoutes(AlarmsController(repository: alarms, feed: dependencies.alarmFeed, catalogue: dependencies.catalogue,
                                          grants: dependencies.grants,
                                          locks: dependencies.grants.map { _ in LockDirectory(devices: dependencies.devices, lockTypes: lockTypes) })
                            .routes, atPath: "/integration/v1")
        router.addRoutes(ConsoleController().routes)
    }
    return router
}

/// The gateway's HTTP application; background services (ingest, maintenance) run in its service group.
public func buildApplication(
    host: String,
    port: Int,
    dependencies: APIDependencies,
    services: [any Service],
    tls: HTTPSFiles? = nil,
    logger: Logger
) throws -> some ApplicationProtocol {
    Application(
        router: buildRouter(dependencies),
        server: try tls.map { try .tls(.http1(), tlsConfiguration: $0.configuration()) } ?? .http1(),
        configuration: .init(address: .hostname(host, port: port), serverName: "cip-gateway"),
        services: services,
        logger: logger
    )
}

/// HTTPS served by the gateway itself: a certificate chain and its key (PEM files), TLS 1.2 or later.
public struct HTTPSFiles: Sendable {
    public var certificateFile: String
    public var keyFile: String

    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    func configuration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        guard !chain.isEmpty else { throw HTTPError(.internalServerError, message: "\(certificateFile) holds no PEM certificate") }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
