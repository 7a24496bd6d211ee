import Certificates
import Foundation
import Logging
import Models
import Postgres
import Synchronization

/// Device certificates as the registry uses them: issued from a device's CSR when it claims or renews, put on the
/// revocation list when it is suspended (on hold, lifted on resume) or decommissioned (for good), and the list
/// handed to the broker: written to the file its certificate listener reads (`crlfile`), then the broker is told
/// to reload it (SIGHUP to the pid in its pid file; Mosquitto 2 reloads the CRL on that signal, and only then).
///
/// A broker on another machine: leave `brokerPidFile` nil and let that machine fetch the list (README,
/// "Transport security"); the file here is then that machine's copy source.
public final class DeviceCertificates: Sendable {
    public struct Configuration: Sendable {
        public var certificateFile: String
        public var keyFile: String
        /// Where the CRL goes (the broker's `crlfile`).
        public var revocationListFile: String
        /// The broker's pid file: signalled after every new list. Nil: someone else reloads the broker.
        public var brokerPidFile: String?
        /// How long an issued certificate is valid.
        public var validityDays = 365
        /// How long a CRL is valid; a new one is written after a third of that at the latest (an expired CRL
        /// makes OpenSSL refuse every certificate of the CA).
        public var revocationListDays = 7
        /// Certificates a device may hold at once (unexpired, not revoked): renewal is refused beyond.
        public var maximumPerDevice = 3

        public init(certificateFile: String, keyFile: String, revocationListFile: String, brokerPidFile: String? = nil) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.revocationListFile = revocationListFile
            self.brokerPidFile = brokerPidFile
        }
    }

    public enum Origin: String, Sendable {
        case claim
        case renewal
    }

    public let configuration: Configuration
    public let authority: CertificateAuthority
    private let repository: PostgresCertificateRepository
    private let logger: Logger
    /// When the CRL was last written (0: not yet by this process).
    private let lastPublished = Atomic<Int64>(0)
    /// One list written at a time, so a slower writer never replaces a newer list with an older one.
    private let publishing = PublishingGate()

    public init(configuration: Configuration, pool: PostgresPool, logger: Logger) throws {
        guard (1...3_650).contains(configuration.validityDays), (1...90).contains(configuration.revocationListDays) else {
            throw CertificateError.configuration("validity 1 to 3650 days, CRL validity 1 to 90 days")
        }
        self.configuration = configuration
        authority = try CertificateAuthority(certificateFile: configuration.certificateFile, keyFile: configuration.keyFile)
        repository = PostgresCertificateRepository(pool: pool)
        self.logger = logger
    }

    /// Signs a certificate for the device from its CSR (valid from a minute ago, for clocks a little behind) and
    /// records it. Throws `CertificateError.request` for a CSR the device must fix.
    public func issue(request: String, deviceId: String, origin: Origin) async throws -> IssuedCertificate {
        if origin == .renewal, try await repository.usableCount(deviceId: deviceId) >= configuration.maximumPerDevice {
            throw CertificateError.request("the device already holds \(configuration.maximumPerDevice) valid certificates; "
                                           + "a renewal is accepted once one of them has expired or the device was resumed")
        }
        let now = Date()
        let certificate = try authority.issue(request: request, deviceId: deviceId, notBefore: now.addingTimeInterval(-60),
                                              notAfter: now.addingTimeInterval(Double(configuration.validityDays) * 86_400))
        try await repository.insert(certificate, issuedBy: origin.rawValue)
        logger.notice("device certificate issued", metadata: [
            "device": "\(deviceId)", "serial": "\(certificate.serial)", "origin": "\(origin.rawValue)",
            "notAfter": "\(RFC3339.format(micros: Int64(certificate.notAfter.timeIntervalSince1970) * 1_000_000, fractionDigits: 0))",
        ])
        return certificate
    }

    /// Makes the CRL say what the lifecycle state says: suspended → the device's certificates on hold,
    /// provisioned/active → holds lifted, decommissioned → revoked for good. Writes the list when it changed.
    public func enforce(_ state: LifecycleState, deviceId: String) async throws {
        let reason: RevokedCertificate.Reason?
        switch state {
        case .registered: return
        case .provisioned, .active: reason = nil
        case .suspended: reason = .certificateHold
        case .decommissioned: reason = .cessationOfOperation
        }
        if try await repository.setRevocation(deviceId: deviceId, reason: reason) {
            try await publishRevocationList()
        }
    }

    /// Revokes one certificate for good (a claim that lost a race keeps nothing usable).
    func revokeForGood(deviceId: String) async throws {
        if try await repository.setRevocation(deviceId: deviceId, reason: .cessationOfOperation) {
            try await publishRevocationList()
        }
    }

    /// Writes a new list when none was written by this process yet, or a third of its validity has passed.
    public func refreshIfDue() async throws {
        let now = Int64(Date().timeIntervalSince1970)
        let last = lastPublished.load(ordering: .relaxed)
        if last == 0 || now - last >= Int64(configuration.revocationListDays) * 86_400 / 3 {
            try await publishRevocationList()
        }
    }

    /// Signs the current list, replaces the file atomically (the broker never reads half a list) and signals the
    /// broker. Throws when any step fails: the caller (broker enforcement) retries, the device stays marked as
    /// not yet enforced.
    public func publishRevocationList() async throws {
        try await publishing.run {
            let (entries, number) = try await repository.revocationListContents()
            let now = Date()
            let pem = try authority.revocationList(entries, number: number, thisUpdate: now,
                                                   nextUpdate: now.addingTimeInterval(Double(configuration.revocationListDays) * 86_400))
            try Self.replace(configuration.revocationListFile, with: pem)
            if let pidFile = configuration.brokerPidFile { try Self.signalReload(pidFile) }
            lastPublished.store(Int64(now.timeIntervalSince1970), ordering: .relaxed)
            logger.info("device CRL written", metadata: ["entries": "\(entries.count)", "number": "\(number)",
                                                         "file": "\(configuration.revocationListFile)"])
        }
    }

    static func replace(_ path: String, with text: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8),
                                             attributes: [.posixPermissions: 0o644]) else {
            throw CertificateError.configuration("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CertificateError.configuration("cannot replace \(path): \(reason)")
        }
    }

    /// SIGHUP to the broker named by its pid file: the process must be a mosquitto (a stale pid file must not
    /// make the gateway signal whatever process got that pid).
    static func signalReload(_ pidFile: String) throws {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else {
            throw CertificateError.configuration("no broker pid in \(pidFile)")
        }
        let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard command == "mosquitto" else {
            throw CertificateError.configuration("process \(pid) of \(pidFile) is not the broker (\(command ?? "gone"))")
        }
        guard kill(pid, SIGHUP) == 0 else {
            throw CertificateError.configuration("cannot signal the broker (pid \(pid)): \(String(cString: strerror(errno)))")
        }
    }
}

/// Runs one operation at a time, in arrival order.
private actor PublishingGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run(_ body: @Sendable () async throws -> Void) async throws {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        try await body()
    }
}
