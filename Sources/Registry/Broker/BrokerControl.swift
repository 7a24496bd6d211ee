import Certificates
import Foundation
import Logging
import MQTT
import Postgres
import ServiceLifecycle
import Synchronization

/// The gateway's control connection to the broker: administers dynamic security (`$CONTROL/dynamic-security/v1`)
/// and receives onboarding claims (`provisioning/+/claim`), which `Onboarding` answers.
///
/// Lifecycle changes are enforced at once when an administrator makes them (`enforce`); the database remembers
/// which state the broker last enforced (`devices.broker_state`), and `run()` re-enforces every device whose
/// broker state lags behind, so a broker that was away catches up by itself.
public final class BrokerControl: Service, BrokerAccess, Sendable {
    /// Claims and renewals are shared subscriptions: with several gateways, each request reaches one of them.
    public static let claimFilter = "$share/cip-gateway/provisioning/+/claim"
    /// Certificate renewal requests: `certificates/<device id>/request`, answered on `certificates/<device id>/response`.
    public static let renewalFilter = "$share/cip-gateway/certificates/+/request"
    /// A device may ask for a renewal once a minute; more is dropped unanswered (a flood costs no database work).
    static let renewalInterval: Duration = .seconds(60)
    public static func renewalTopic(_ deviceId: String) -> String { "certificates/\(deviceId)/request" }
    public static func renewalAnswerTopic(_ deviceId: String) -> String { "certificates/\(deviceId)/response" }

    private let client: MQTTClient
    private let devices: PostgresDeviceRepository
    private let logger: Logger
    private let onboarding: Onboarding
    private let certificates: DeviceCertificates?
    private let certificateRepository: PostgresCertificateRepository
    private let claims: AsyncStream<MQTTMessage>
    /// Renewals have a queue of their own, so that a device flooding them cannot crowd out claims.
    private let renewals: AsyncStream<MQTTMessage>
    private let lastRenewal = Mutex<[String: ContinuousClock.Instant]>([:])
    private let pending = Mutex<[String: Pending]>([:])
    private let nextRequest = Atomic<UInt64>(0)
    private let reconcileInterval: Duration

    private struct Pending {
        var expected: Int
        var responses: [Int: DynamicSecurityCommand.Response] = [:]
        var continuation: CheckedContinuation<[DynamicSecurityCommand.Response], any Error>
    }

    public init(configuration: MQTTClient.Configuration, devices: PostgresDeviceRepository, logger: Logger,
                onboarding onboardingConfiguration: Onboarding.Configuration = .init(), certificates: DeviceCertificates? = nil,
                reconcileInterval: Duration = .seconds(10)) throws {
        var configuration = configuration
        configuration.subscriptions = [(DynamicSecurityCommand.responseTopic, 1), (Self.claimFilter, 1)]
        if certificates != nil { configuration.subscriptions.append((Self.renewalFilter, 1)) }
        self.certificates = certificates
        certificateRepository = PostgresCertificateRepository(pool: devices.pool)
        let (claims, claimSink) = AsyncStream<MQTTMessage>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        self.claims = claims
        let (renewals, renewalSink) = AsyncStream<MQTTMessage>.makeStream(bufferingPolicy: .bufferingNewest(1_000))
        self.renewals = renewals
        self.devices = devices
        self.logger = logger
        self.reconcileInterval = reconcileInterval
        let responses = ResponseRouter()
        client = try MQTTClient(configuration: configuration, logger: logger) { message in
            if message.topic == DynamicSecurityCommand.responseTopic {
                responses.deliver(message.payload)
            } else if message.topic.hasPrefix("certificates/") {
                renewalSink.yield(message)
            } else {
                claimSink.yield(message)
            }
        }
        onboarding = Onboarding(configuration: onboardingConfiguration, devices: devices, certificates: certificates, logger: logger)
        responses.control = self
    }

    public var isConnected: Bool { client.isConnected }

    public func run() async throws {
        try client.start()
        let claims = self.claims
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await claim in claims {
                    await self.onboarding.handle(claim, broker: self)
                }
            }
            let renewals = self.renewals
            group.addTask {
                for await renewal in renewals {
                    guard let certificates = self.certificates else { continue }
                    await self.renew(renewal, certificates: certificates)
                }
            }
            group.addTask {
                while !Task.isShuttingDownGracefully, !Task.isCancelled {
                    await self.reconcile()
                    await self.refreshRevocationList()
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.reconcileInterval) }
                }
            }
            await withGracefulShutdownHandler {
                await group.next()
            } onGracefulShutdown: {
                self.client.stop()
            }
            group.cancelAll()
        }
        client.stop()
    }

    // MARK: - Dynamic security

    /// Sends commands in one message and waits for their answers (matched by correlation data). Refuses, before
    /// anything is sent, a batch that names a reserved account or role (`ReservedNames`).
    public func send(_ commands: [[String: Any]], timeout: Duration = .seconds(5)) async throws -> [DynamicSecurityCommand.Response] {
        if let target = DynamicSecurityCommand.reservedTarget(commands) {
            logger.error("refused a dynamic-security command on a reserved name", metadata: ["target": "\(target)"])
            throw BrokerError("refused: \(target) is reserved for the platform's own broker accounts")
        }
        guard client.isConnected else { throw BrokerError("not connected to the broker") }
        let id = "cip-\(nextRequest.add(1, ordering: .relaxed).newValue)"
        let tagged = commands.enumerated().map { index, command in
            var command = command
            command["correlationData"] = "\(id):\(index)"
            return command
        }
        // The deadline is a child task, so it ends with the request; a cancelled caller stops waiting at once.
        return try await withThrowingTaskGroup(of: Void.self) { deadline in
            deadline.addTask {
                try await Task.sleep(for: timeout)
                self.fail(id, BrokerError("the broker did not answer a dynamic-security request within \(timeout)"))
            }
            defer { deadline.cancelAll() }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    pending.withLock { $0[id] = Pending(expected: commands.count, continuation: continuation) }
                    // Cancelled before the request was pending: the handler found nothing to fail.
                    if Task.isCancelled { return fail(id, CancellationError()) }
                    do {
                        try client.publish(topic: DynamicSecurityCommand.topic, payload: DynamicSecurityCommand.encode(tagged), qos: 1)
                    } catch {
                        fail(id, BrokerError("could not send to the broker: \(error)"))
                    }
                }
            } onCancel: {
                self.fail(id, CancellationError())
            }
        }
    }

    fileprivate func deliver(_ payload: [UInt8]) {
        guard let responses = DynamicSecurityCommand.parseResponses(payload) else { return }
        // Each answer carries the correlation data "<request>:<index>" of its command.
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let raw = object["responses"] as? [[String: Any]] else { return }
        for (response, rawResponse) in zip(responses, raw) {
            guard let correlation = rawResponse["correlationData"] as? String,
                  let colon = correlation.lastIndex(of: ":"),
                  let index = Int(correlation[correlation.index(after: colon)...]) else { continue }
            let id = String(correlation[..<colon])
            let finished: (CheckedContinuation<[DynamicSecurityCommand.Response], any Error>, [DynamicSecurityCommand.Response])? =
                pending.withLock { pending in
                    guard var entry = pending[id] else { return nil }
                    entry.responses[index] = response
                    if entry.responses.count == entry.expected {
                        pending[id] = nil
                        return (entry.continuation, (0..<entry.expected).compactMap { entry.responses[$0] })
                    }
                    pending[id] = entry
                    return nil
                }
            if let (continuation, all) = finished { continuation.resume(returning: all) }
        }
    }

    private func fail(_ id: String, _ error: any Error) {
        let continuation = pending.withLock { $0.removeValue(forKey: id)?.continuation }
        continuation?.resume(throwing: error)
    }

    /// Sends commands and throws the first error that is not "already so".
    func perform(_ commands: [[String: Any]]) async throws {
        for response in try await send(commands) where !response.isAlreadyDone {
            throw BrokerError("dynamic security refused \(response.command): \(response.error ?? "")")
        }
    }

    /// Creates (or re-creates, with a new password) the device's client and role.
    func createDeviceClient(_ deviceId: String, password: String) async throws {
        if let problem = ReservedNames.problem(deviceId: deviceId) { throw BrokerError(problem) }
        try await perform([
            DynamicSecurityCommand.deleteClient(deviceId),
            DynamicSecurityCommand.createDeviceRole(deviceId),
            DynamicSecurityCommand.createDeviceClient(deviceId, password: password),
        ])
    }

    public func enforce(_ state: LifecycleState, deviceId: String) async throws {
        if let problem = ReservedNames.problem(deviceId: deviceId) { throw BrokerError(problem) }
        // The CRL before the account: a suspended device that is disconnected below must not get back in over its
        // certificate in between (the certificate listener skips the password step, and with it dynamic
        // security's check of a disabled client). The database already says what the list must hold (the
        // lifecycle's triggers); a list that could not be written does not stop the account step, but the change
        // does not count as enforced until the list is written (the next round tries again) — for a device that
        // has a certificate the broker could still accept; any other device is enforced by its account alone.
        var revocationListFailure: (any Error)?
        if state != .registered {
            do {
                if let certificates {
                    try await certificates.publishIfBehind()
                } else if try await certificateRepository.isBehind() {
                    throw BrokerError("the device CRL is behind and this gateway has no device CA to write it (--device-ca-cert)")
                }
            } catch {
                revocationListFailure = error
            }
        }
        switch state {
        case .registered: break
        case .provisioned, .active: try await perform([DynamicSecurityCommand.enableClient(deviceId)])
        case .suspended: try await perform([DynamicSecurityCommand.disableClient(deviceId)])
        case .decommissioned:
            try await perform([DynamicSecurityCommand.deleteClient(deviceId), DynamicSecurityCommand.deleteRole(deviceId)])
        }
        if let revocationListFailure, try await certificateRepository.hasUnexpired(deviceId: deviceId) { throw revocationListFailure }
        try await devices.markEnforced(state, deviceId: deviceId)
    }

    /// Re-enforces devices whose broker state lags behind their lifecycle state (a change made while the broker
    /// was away, or by another instance that crashed in between).
    func reconcile() async {
        guard client.isConnected else { return }
        do {
            let lagging = try await devices.brokerLagging(limit: 500)
            for (id, state) in lagging {
                // A reserved id registered before names were reserved: never administered, and never allowed to
                // stop the devices behind it from catching up.
                if ReservedNames.isReserved(id) {
                    logger.error("device id is reserved; the broker is not told about it", metadata: ["device": "\(id)"])
                    continue
                }
                // One device that cannot be enforced yet (its CRL not written) never holds up the others.
                do {
                    try await enforce(state, deviceId: id)
                } catch {
                    logger.warning("broker enforcement of a device failed; will retry", metadata: [
                        "device": "\(id)", "state": "\(state.rawValue)", "error": "\(error)",
                    ])
                }
            }
            if !lagging.isEmpty { logger.info("broker caught up with the registry", metadata: ["devices": "\(lagging.count)"]) }
        } catch {
            logger.warning("broker reconciliation failed; will retry", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Certificates

    /// Writes the CRL when it is due (at start, then before it expires); a failure is retried on the next round.
    private func refreshRevocationList() async {
        do {
            try await certificates?.refreshIfDue()
        } catch {
            logger.error("device CRL could not be written; will retry", metadata: ["error": "\(error)"])
        }
    }

    /// A renewal: `{"csr": "<PEM>"}` on `certificates/<device id>/request`. Only the device's own account may
    /// publish there (its role's ACL), so the topic names who asks; the device must be provisioned or active.
    /// The answer goes to `certificates/<device id>/response`, which only that account may read. What can be
    /// checked without the database (JSON, the CSR itself) is checked first and answered at once; a request that
    /// passes costs database work and is accepted once a minute per device (more is dropped unanswered).
    private func renew(_ message: MQTTMessage, certificates: DeviceCertificates) async {
        let parts = message.topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "certificates", parts[2] == "request", !parts[1].isEmpty, !message.retained else { return }
        let deviceId = String(parts[1])
        guard ReservedNames.problem(deviceId: deviceId) == nil else { return }
        func answer(_ object: [String: Any]) {
            let payload = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            do {
                try publish(topic: Self.renewalAnswerTopic(deviceId), payload: Array(payload))
            } catch {
                logger.error("could not answer a renewal", metadata: ["device": "\(deviceId)", "error": "\(error)"])
            }
        }
        guard message.payload.count <= 16_384,
              let object = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any],
              let csr = object["csr"] as? String else {
            return answer(["status": "refused", "reason": "expected {\"csr\": \"<PEM certificate request>\"}"])
        }
        do {
            try CertificateAuthority.check(request: csr)
        } catch {
            logger.debug("certificate renewal refused", metadata: ["device": "\(deviceId)", "reason": "\(error)"])
            if case .request(let reason) = error { return answer(["status": "refused", "reason": reason]) }
            return
        }
        let now = ContinuousClock.now
        let allowed = lastRenewal.withLock { last in
            if let previous = last[deviceId], now - previous < Self.renewalInterval { return false }
            if last.count >= 10_000 { last = last.filter { now - $0.value < Self.renewalInterval } }
            last[deviceId] = now
            return true
        }
        guard allowed else {
            logger.debug("certificate renewal dropped: more than one a minute", metadata: ["device": "\(deviceId)"])
            return
        }
        do {
            answer(try await renewal(csr, deviceId: deviceId, certificates: certificates))
        } catch {
            logger.error("certificate renewal could not be processed", metadata: ["device": "\(deviceId)", "error": "\(error)"])
            answer(["status": "refused", "reason": "the renewal could not be processed now; try again later", "retryAfterSeconds": 60])
        }
    }

    private func renewal(_ csr: String, deviceId: String, certificates: DeviceCertificates) async throws -> [String: Any] {
        func refused(_ reason: String) -> [String: Any] {
            logger.warning("certificate renewal refused", metadata: ["device": "\(deviceId)", "reason": "\(reason)"])
            return ["status": "refused", "reason": reason]
        }
        guard let device = try await devices.device(deviceId), [.provisioned, .active].contains(device.lifecycleState) else {
            return refused("the device is not provisioned or active")
        }
        do {
            let certificate = try await certificates.issue(request: csr, deviceId: deviceId, origin: .renewal)
            var answer = CertificateAnswer(certificate, authority: certificates.authority.certificatePEM).fields
            answer["status"] = "issued"
            return answer
        } catch let error as CertificateError {
            guard case .request(let reason) = error else { throw error }
            return refused(reason)
        }
    }

    func publish(topic: String, payload: [UInt8]) throws {
        try client.publish(topic: topic, payload: payload, qos: 1)
    }

    /// Publishes QoS 1 and returns once the broker acknowledged it (every publish in flight on this connection),
    /// waiting on a thread of its own rather than the cooperative pool. Lock commands go this way.
    public func publishAcknowledged(topic: String, payload: [UInt8], retain: Bool = false, timeout: Double = 5) async throws {
        let client = self.client
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                do {
                    try client.publish(topic: topic, payload: payload, qos: 1, retain: retain)
                    guard client.waitForAcknowledgements(timeout: timeout) else {
                        throw MQTTError(code: -1, message: "the broker did not acknowledge within \(timeout) s", operation: "publish to \(topic)")
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

/// Hands dynamic-security answers from the network thread to the control (set once, right after init).
private final class ResponseRouter: @unchecked Sendable {
    weak var control: BrokerControl?
    func deliver(_ payload: [UInt8]) { control?.deliver(payload) }
}
