import Certificates
import Foundation
import Logging
import MQTT
import Postgres
import Synchronization

/// Zero-touch onboarding: a new device, connected with the shared bootstrap account (client id
/// `bootstrap/<anything>`), subscribes to `provisioning/<serial>/result/<nonce>` and publishes
/// `{"serial": ..., "claimCode": ..., "nonce": ...}` to `provisioning/<serial>/claim`. The nonce is the device's
/// own fresh random secret (at least 32 characters of `A–Z a–z 0–9 - _`, e.g. 128 bits as hex): the answer goes
/// only to the topic it names, which no other bootstrap holder can subscribe to (the broker refuses wildcard
/// subscriptions of the bootstrap account and the claim topic is readable by the gateway alone). If the code is
/// right, unused and not expired, the device gets a broker client of its own (bound to the client id = its
/// device id) and becomes `provisioned`; the answer carries its device id, user name and password.
///
/// With a certificate instead of a password: the claim carries `"csr"`, a PKCS #10 request (PEM) for a key the
/// device made itself. The answer then carries a certificate for its device id signed by the device CA, and no
/// password (its broker client gets one nobody learns): the device connects to the broker's certificate
/// listener, where the certificate is its identity. A CSR the gateway cannot accept is refused with the reason
/// and the claim code stays usable. Renewal: `DeviceCertificates` / `BrokerControl.renewalFilter`.
///
/// What an answer reveals: a claim whose code is not proven right gets one and the same refusal
/// (`ClaimEvaluation.notAccepted`) whether the serial is unknown, the code wrong, used, withdrawn or the device
/// decommissioned; only the holder of the right code learns that it expired or was withdrawn. A claim without a
/// valid nonce is not answered at all (any answer topic it could name is one others may read).
///
/// Wrong codes are counted per serial (`ClaimThrottle`), but a lockout never refuses the right code: see
/// `ClaimEvaluation` for the trade-off.
public final class Onboarding: Sendable {
    public struct Configuration: Sendable {
        public var throttle = ClaimThrottle.Configuration()
        public var passwordLength = 24

        public init() {}
    }

    private let configuration: Configuration
    private let devices: PostgresDeviceRepository
    private let certificates: DeviceCertificates?
    private let logger: Logger
    private let throttle: Mutex<ClaimThrottle>

    init(configuration: Configuration, devices: PostgresDeviceRepository, certificates: DeviceCertificates?, logger: Logger) {
        self.configuration = configuration
        self.devices = devices
        self.certificates = certificates
        self.logger = logger
        throttle = Mutex(ClaimThrottle(configuration: configuration.throttle))
    }

    /// The topic of the answer to a claim with this serial and nonce.
    public static func resultTopic(serial: String, nonce: String) -> String { "provisioning/\(serial)/result/\(nonce)" }

    /// Handles one claim and publishes its answer.
    func handle(_ message: MQTTMessage, broker: BrokerControl) async {
        let parts = message.topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "provisioning", parts[2] == "claim", !parts[1].isEmpty else { return }
        let serial = String(parts[1])
        // A retained claim would be replayed to the gateway on every reconnect: claims are one-off requests.
        if message.retained {
            logger.warning("retained claim ignored", metadata: ["serial": "\(serial)"])
            return
        }
        let request: ClaimRequest
        switch ClaimRequest.parse(message.payload, topicSerial: serial) {
        case .success(let parsed): request = parsed
        case .failure(.unanswerable(let reason)):
            logger.warning("claim ignored: no answer topic", metadata: ["serial": "\(serial)", "reason": "\(reason)"])
            return
        case .failure(.refused(let nonce, let answer)):
            publish(answer, serial: serial, nonce: nonce, broker: broker)
            return
        }
        let answer: ClaimAnswer
        do {
            answer = try await claim(request, broker: broker)
        } catch {
            logger.error("claim could not be processed", metadata: ["serial": "\(serial)", "error": "\(error)"])
            answer = .refused("the claim could not be processed now; try again later", retryAfter: 30)
        }
        publish(answer, serial: serial, nonce: request.nonce, broker: broker)
    }

    private func publish(_ answer: ClaimAnswer, serial: String, nonce: String, broker: BrokerControl) {
        switch answer {
        case .provisioned(let deviceId, _, _):
            logger.notice("device provisioned by claim", metadata: ["serial": "\(serial)", "device": "\(deviceId)"])
        case .refused(let reason, let retryAfter):
            // During a lockout the flood is logged at debug level only.
            logger.log(level: retryAfter == nil ? .warning : .debug, "claim refused",
                       metadata: ["serial": "\(serial)", "reason": "\(reason)"])
        }
        do {
            try broker.publish(topic: Self.resultTopic(serial: serial, nonce: nonce), payload: answer.payload)
        } catch {
            logger.error("could not answer a claim", metadata: ["serial": "\(serial)", "error": "\(error)"])
        }
    }

    func claim(_ request: ClaimRequest, broker: BrokerControl) async throws -> ClaimAnswer {
        let now = Date().timeIntervalSince1970
        let record = try await devices.claimRecord(serial: request.serial)
        let verdict = throttle.withLock {
            ClaimEvaluation.evaluate(record: record, claimCode: request.claimCode, serial: request.serial, now: now, throttle: &$0)
        }
        let deviceId: String
        switch verdict {
        case .refused(let answer): return answer
        case .reservedDeviceId(let id):
            logger.error("a registered device has a reserved id; it cannot be provisioned", metadata: ["device": "\(id)"])
            return .refused(ClaimEvaluation.notAccepted, retryAfter: nil)
        case .provision(let id): deviceId = id
        }

        // One claim per device at a time, across gateways: the one that holds the reservation does everything,
        // any other refuses without touching the broker (it would replace the account the first one creates).
        let token = Self.password(length: 24)
        guard try await devices.reserveClaim(deviceId, token: token, seconds: 60) else {
            return .refused("the device is being claimed by another request right now; try again in a minute", retryAfter: 60)
        }
        do {
            let answer = try await provision(deviceId, request: request, token: token, broker: broker)
            try? await devices.releaseClaim(deviceId, token: token)
            return answer
        } catch {
            try? await devices.releaseClaim(deviceId, token: token)
            throw error
        }
    }

    /// The claim of a reserved device: a certificate first (a CSR the device must fix leaves the code usable),
    /// then the broker client; if the database step then fails, the code stays usable and a new claim replaces
    /// the client and its password.
    private func provision(_ deviceId: String, request: ClaimRequest, token: String, broker: BrokerControl) async throws -> ClaimAnswer {
        var certificate: IssuedCertificate?
        if let csr = request.csr {
            guard let certificates else {
                // Another gateway (with the device CA) may take the claim next time; no advice to fall back.
                logger.warning("a claim with a CSR reached a gateway without the device CA", metadata: ["device": "\(deviceId)"])
                return .refused("the gateway that took this claim cannot issue certificates; try again", retryAfter: 10)
            }
            do {
                certificate = try await certificates.issue(request: csr, deviceId: deviceId, origin: .claim)
            } catch let error as CertificateError {
                guard case .request(let reason) = error else { throw error }
                return .refused(reason, retryAfter: nil)
            }
        }
        let password = Self.password(length: configuration.passwordLength)
        let provisioned: Bool
        do {
            try await broker.createDeviceClient(deviceId, password: password)
            // The one lifecycle state machine says where a claim leads (registered → provisioned).
            let transition = try Lifecycle.transition(.provision, from: .registered, actor: "gateway:claim",
                                                      reason: "claim code accepted", at: 0).get()
            provisioned = try await devices.commitClaim(deviceId, transition: transition, token: token)
        } catch {
            // The claim failed after the certificate was signed: the device never learns it, nobody may use it.
            if let certificate { try? await certificates?.revokeForGood(certificate) }
            throw error
        }
        guard provisioned else {
            if let certificate { try? await certificates?.revokeForGood(certificate) }
            // The device left `registered` meanwhile. If another claim provisioned it (this one's reservation ran
            // out and was taken over), the account is that claim's now: leave it. Otherwise (withdrawn,
            // decommissioned) the account goes with this claim.
            let state = try? await devices.device(deviceId)?.lifecycleState
            if state == .provisioned || state == .active {
                return .refused("the device was claimed by another request meanwhile", retryAfter: nil)
            }
            try? await broker.perform([DynamicSecurityCommand.deleteClient(deviceId)])
            return .refused("this claim code was withdrawn (the device is no longer awaiting onboarding)", retryAfter: nil)
        }
        // With a certificate the password stays unknown to everyone: the certificate is the device's identity.
        return .provisioned(deviceId: deviceId, password: certificate == nil ? password : nil,
                            certificate: certificate.map { CertificateAnswer($0, authority: certificates?.authority.certificatePEM) })
    }

    /// A random password from letters and digits (143 bits at 24 characters).
    static func password(length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}

/// What the registry holds about the serial of a claim.
struct ClaimRecord: Equatable {
    var deviceId: String
    var lifecycleState: LifecycleState?
    var hash: [UInt8]?
    var salt: [UInt8]?
    var expired: Bool
}

/// The decision on a claim, without storage or broker: pure, so that what an answer may reveal and what the
/// throttle may refuse are pinned by unit tests.
///
/// Throttle trade-off: claim codes carry ≈ 99 bits, expire and are single-use, so online guessing is hopeless
/// with or without a throttle (the gateway checks a few thousand claims a second at most: 2^-60 per year of
/// guessing one code). A lockout that also refused the right code would let anyone holding the public bootstrap
/// password lock a genuine device out for as long as they keep sending wrong codes for its serial (the serial is
/// printed on the box). So the right code always wins; wrong codes are counted per serial and, past the limit,
/// answered with `retryAfterSeconds` and logged at debug level only (a brake on noise, not a wall). Unknown
/// serials are counted exactly like known ones, so the throttle is no oracle for which serials exist.
enum ClaimEvaluation {
    /// The one refusal for every claim whose code is not proven right.
    static let notAccepted = "the claim was not accepted: unknown serial, or a wrong, used, withdrawn or expired claim code"

    enum Verdict: Equatable {
        case provision(deviceId: String)
        case refused(ClaimAnswer)
        /// The code is right but the device id is reserved (registered before names were reserved).
        case reservedDeviceId(String)
    }

    /// A hash/salt pair that matches no code, checked when the serial has none, so that every claim costs the same.
    private static let decoySalt = [UInt8](repeating: 0, count: ClaimCode.saltLength)
    private static let decoyHash = [UInt8](repeating: 0, count: ClaimCode.hashLength)

    static func evaluate(record: ClaimRecord?, claimCode: String, serial: String, now: Double,
                         throttle: inout ClaimThrottle) -> Verdict {
        let codeIsRight: Bool
        if let record, let hash = record.hash, let salt = record.salt {
            codeIsRight = ClaimCode.verify(claimCode, salt: salt, hash: hash)
        } else {
            _ = ClaimCode.verify(claimCode, salt: decoySalt, hash: decoyHash)
            codeIsRight = false
        }
        guard codeIsRight, let record else {
            if case .refused(let retryAfter) = throttle.recordFailure(serial: serial, now: now) {
                return .refused(.refused(notAccepted + "; too many failed claims for this serial: try again in "
                                         + "\(Int(retryAfter.rounded(.up))) s", retryAfter: retryAfter))
            }
            return .refused(.refused(notAccepted, retryAfter: nil))
        }
        // The claimant holds the right code: it may learn why it cannot be used.
        throttle.recordSuccess(serial: serial)
        guard record.lifecycleState == .registered else {
            return .refused(.refused("this claim code was withdrawn (the device is no longer awaiting onboarding)", retryAfter: nil))
        }
        if record.expired {
            return .refused(.refused("this claim code has expired; ask for a new one", retryAfter: nil))
        }
        if ReservedNames.isReserved(record.deviceId) { return .reservedDeviceId(record.deviceId) }
        return .provision(deviceId: record.deviceId)
    }
}

/// A parsed claim message.
struct ClaimRequest: Equatable {
    var serial: String
    var claimCode: String
    var nonce: String
    /// A PKCS #10 request (PEM): the device asks for a certificate instead of a password.
    var csr: String?

    /// Shortest and longest nonce: 32 characters are 128 bits as hex, 192 as base64url.
    static let nonceLength = 32...128

    /// Whether `nonce` can name the answer topic: 32–128 of `A–Z a–z 0–9 - _` (one topic level, no wildcard).
    static func isValidNonce(_ nonce: String) -> Bool {
        nonceLength.contains(nonce.utf8.count) && nonce.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"): true
            default: false
            }
        }
    }

    enum Failure: Error, Equatable {
        /// No usable nonce: there is no topic only the claimant reads, so no answer at all.
        case unanswerable(String)
        /// Answered on the claimant's own topic.
        case refused(nonce: String, ClaimAnswer)
    }

    /// `{"serial": "...", "claimCode": "...", "nonce": "..."}`; the serial must be the topic's.
    static func parse(_ payload: [UInt8], topicSerial: String) -> Result<ClaimRequest, Failure> {
        guard payload.count <= 16_384,
              let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            return .failure(.unanswerable("the claim is not a JSON object"))
        }
        guard let nonce = object["nonce"] as? String, isValidNonce(nonce) else {
            return .failure(.unanswerable("the claim has no \"nonce\" of 32-128 characters A-Z a-z 0-9 - _"))
        }
        func refuse(_ reason: String) -> Result<ClaimRequest, Failure> {
            .failure(.refused(nonce: nonce, .refused(reason, retryAfter: nil)))
        }
        guard let serial = object["serial"] as? String else { return refuse("the claim has no \"serial\" string") }
        guard serial == topicSerial else { return refuse("the claim's serial is not the topic's") }
        guard let code = object["claimCode"] as? String else { return refuse("the claim has no \"claimCode\" string") }
        guard ClaimCode.isWellFormed(code) else {
            return refuse("the claim code is not of the form XXXX-XXXX-XXXX-XXXX-XXXX")
        }
        var csr: String?
        if let value = object["csr"] {
            guard let text = value as? String else { return refuse("\"csr\" must be a PEM string") }
            csr = text
        }
        return .success(ClaimRequest(serial: serial, claimCode: code, nonce: nonce, csr: csr))
    }
}

/// The answer on `provisioning/<serial>/result/<nonce>`.
enum ClaimAnswer: Error, Equatable {
    /// A password, or a certificate (then no password).
    case provisioned(deviceId: String, password: String?, certificate: CertificateAnswer?)
    case refused(String, retryAfter: Double?)

    var payload: [UInt8] {
        let object: [String: Any]
        switch self {
        case .provisioned(let deviceId, let password, let certificate):
            var answer: [String: Any] = [
                "status": "provisioned", "deviceId": deviceId, "username": deviceId,
                "clientId": deviceId, "publishTopic": "devices/\(deviceId)/{telemetry,events,status}",
                "commandTopic": "commands/\(deviceId)/#",
            ]
            if let password { answer["password"] = password }
            if let certificate { answer.merge(certificate.fields, uniquingKeysWith: { $1 }) }
            object = answer
        case .refused(let reason, let retryAfter):
            var refusal: [String: Any] = ["status": "refused", "reason": reason]
            if let retryAfter { refusal["retryAfterSeconds"] = Int(retryAfter.rounded(.up)) }
            object = refusal
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }
}

/// The certificate part of an answer (claim or renewal).
struct CertificateAnswer: Equatable {
    var certificate: IssuedCertificate
    /// The device CA's certificate, so the device can check what it got.
    var authority: String?

    init(_ certificate: IssuedCertificate, authority: String?) {
        self.certificate = certificate
        self.authority = authority
    }

    var fields: [String: Any] {
        var fields: [String: Any] = [
            "certificate": certificate.pem, "certificateSerial": certificate.serial,
            "certificateNotAfter": certificate.notAfterText,
            "renewTopic": BrokerControl.renewalTopic(certificate.deviceId),
            "renewAnswerTopic": BrokerControl.renewalAnswerTopic(certificate.deviceId),
        ]
        if let authority { fields["deviceCA"] = authority }
        return fields
    }
}
