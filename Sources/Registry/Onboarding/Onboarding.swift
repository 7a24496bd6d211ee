import Foundation
import Logging
import MQTT
import Postgres
import Synchronization

/// Zero-touch onboarding: a new device, connected with the shared bootstrap account, publishes
/// `{"serial": ..., "claimCode": ...}` to `provisioning/<serial>/claim`. If the code is right, unused and not
/// expired, the device gets a broker client of its own and becomes `provisioned`; the answer on
/// `provisioning/<serial>/result` carries its device id, user name and password, or a precise refusal.
/// Wrong codes are counted per serial and rate-limited (`ClaimThrottle`).
public final class Onboarding: Sendable {
    public struct Configuration: Sendable {
        public var throttle = ClaimThrottle.Configuration()
        public var passwordLength = 24

        public init() {}
    }

    private let configuration: Configuration
    private let pool: PostgresPool
    private let logger: Logger
    private let throttle: Mutex<ClaimThrottle>

    init(configuration: Configuration, pool: PostgresPool, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
        throttle = Mutex(ClaimThrottle(configuration: configuration.throttle))
    }

    /// Handles one claim and publishes its answer.
    func handle(_ message: MQTTMessage, broker: BrokerControl) async {
        let parts = message.topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "provisioning", parts[2] == "claim", !parts[1].isEmpty else { return }
        let serial = String(parts[1])
        let answer: ClaimAnswer
        do {
            answer = try await claim(serial: serial, payload: message.payload, broker: broker)
        } catch {
            logger.error("claim could not be processed", metadata: ["serial": "\(serial)", "error": "\(error)"])
            answer = .refused("the claim could not be processed now; try again later", retryAfter: 30)
        }
        switch answer {
        case .provisioned(let deviceId, _):
            logger.notice("device provisioned by claim", metadata: ["serial": "\(serial)", "device": "\(deviceId)"])
        case .refused(let reason, _):
            logger.warning("claim refused", metadata: ["serial": "\(serial)", "reason": "\(reason)"])
        }
        do {
            try broker.publish(topic: "provisioning/\(serial)/result", payload: answer.payload)
        } catch {
            logger.error("could not answer a claim", metadata: ["serial": "\(serial)", "error": "\(error)"])
        }
    }

    func claim(serial: String, payload: [UInt8], broker: BrokerControl) async throws -> ClaimAnswer {
        let now = Date().timeIntervalSince1970
        if case .refused(let retryAfter) = throttle.withLock({ $0.check(serial: serial, now: now) }) {
            return .refused("too many failed claims for serial \(serial); try again in \(Int(retryAfter.rounded(.up))) s",
                            retryAfter: retryAfter)
        }
        let request: ClaimRequest
        switch ClaimRequest.parse(payload, topicSerial: serial) {
        case .success(let parsed): request = parsed
        case .failure(let refusal): return refusal
        }
        let record = try await pool.withConnection { connection in
            try connection.query("""
                SELECT device_id, lifecycle_state, encode(claim_code_hash, 'hex') AS hash,
                       encode(claim_code_salt, 'hex') AS salt, claim_expires_at < now() AS expired
                FROM devices WHERE serial_number = $1
                """, [serial]).first
        }
        guard let record, let deviceId = record["device_id"] else {
            return failure(serial, now, "serial \(serial) is not registered, or the claim code is wrong")
        }
        guard record["lifecycle_state"] == LifecycleState.registered.rawValue else {
            return .refused("device \(deviceId) is \(record["lifecycle_state"] ?? "unknown"); its claim code was used or withdrawn",
                            retryAfter: nil)
        }
        guard let hash = record["hash"].flatMap(Hex.decode), let salt = record["salt"].flatMap(Hex.decode) else {
            return .refused("device \(deviceId) has no claim code; register it again or ask for a new code", retryAfter: nil)
        }
        guard ClaimCode.verify(request.claimCode, salt: salt, hash: hash) else {
            return failure(serial, now, "serial \(serial) is not registered, or the claim code is wrong")
        }
        if record["expired"] == "t" {
            return .refused("the claim code of serial \(serial) has expired; ask for a new one", retryAfter: nil)
        }
        throttle.withLock { $0.recordSuccess(serial: serial) }

        // The broker client first: if the database step then fails, the code stays usable and a new claim
        // replaces the client and its password.
        let password = Self.password(length: configuration.passwordLength)
        try await broker.createDeviceClient(deviceId, password: password)
        let provisioned = try await pool.withConnection { connection in
            try connection.transaction { connection in
                let updated = try connection.query("""
                    UPDATE devices SET lifecycle_state = 'provisioned', broker_state = 'provisioned',
                           claim_code_hash = NULL, claim_code_salt = NULL, claim_expires_at = NULL, updated_at = now()
                    WHERE device_id = $1 AND lifecycle_state = 'registered'
                    """, [deviceId]).affected
                if updated == 1 {
                    try connection.query("""
                        INSERT INTO device_history (device_id, from_state, to_state, action, actor, reason)
                        VALUES ($1, 'registered', 'provisioned', 'provision', 'gateway:claim', 'claim code accepted')
                        """, [deviceId])
                }
                return updated == 1
            }
        }
        guard provisioned else {
            try? await broker.perform([DynamicSecurityCommand.deleteClient(deviceId)])
            return .refused("device \(deviceId) was claimed at the same moment by another request", retryAfter: nil)
        }
        return .provisioned(deviceId: deviceId, password: password)
    }

    private func failure(_ serial: String, _ now: Double, _ reason: String) -> ClaimAnswer {
        let decision = throttle.withLock { $0.recordFailure(serial: serial, now: now) }
        if case .refused(let retryAfter) = decision {
            return .refused(reason + "; too many failures: try again in \(Int(retryAfter.rounded(.up))) s", retryAfter: retryAfter)
        }
        return .refused(reason, retryAfter: nil)
    }

    /// A random password from letters and digits (143 bits at 24 characters).
    static func password(length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}

/// A parsed claim message.
struct ClaimRequest: Equatable {
    var serial: String
    var claimCode: String

    /// `{"serial": "...", "claimCode": "..."}`; the serial must be the topic's.
    static func parse(_ payload: [UInt8], topicSerial: String) -> Result<ClaimRequest, ClaimAnswer> {
        guard payload.count <= 4_096,
              let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            return .failure(.refused("the claim must be a JSON object {\"serial\": ..., \"claimCode\": ...}", retryAfter: nil))
        }
        guard let serial = object["serial"] as? String else {
            return .failure(.refused("the claim has no \"serial\" string", retryAfter: nil))
        }
        guard serial == topicSerial else {
            return .failure(.refused("the claim's serial \(serial) is not the topic's \(topicSerial)", retryAfter: nil))
        }
        guard let code = object["claimCode"] as? String else {
            return .failure(.refused("the claim has no \"claimCode\" string", retryAfter: nil))
        }
        guard ClaimCode.isWellFormed(code) else {
            return .failure(.refused("the claim code is not of the form XXXX-XXXX-XXXX-XXXX-XXXX", retryAfter: nil))
        }
        return .success(ClaimRequest(serial: serial, claimCode: code))
    }
}

/// The answer on `provisioning/<serial>/result`.
enum ClaimAnswer: Error, Equatable {
    case provisioned(deviceId: String, password: String)
    case refused(String, retryAfter: Double?)

    var payload: [UInt8] {
        let object: [String: Any]
        switch self {
        case .provisioned(let deviceId, let password):
            object = ["status": "provisioned", "deviceId": deviceId, "username": deviceId, "password": password,
                      "clientId": deviceId, "publishTopic": "devices/\(deviceId)/{telemetry,events,status}",
                      "commandTopic": "commands/\(deviceId)/#"]
        case .refused(let reason, let retryAfter):
            var refusal: [String: Any] = ["status": "refused", "reason": reason]
            if let retryAfter { refusal["retryAfterSeconds"] = Int(retryAfter.rounded(.up)) }
            object = refusal
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }
}
