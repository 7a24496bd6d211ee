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
    /// When this process last wrote the CRL (0: not yet).
    private let lastPublished = Atomic<Int64>(0)

    public init(configuration: Configuration, pool: PostgresPool, logger: Logger) throws {
        guard (1...3_650).contains(configuration.validityDays) else {
            throw CertificateError.configuration("a device certificate is valid 1 to 3650 days, not \(configuration.validityDays)")
        }
        guard (1...90).contains(configuration.revocationListDays) else {
            throw CertificateError.configuration("a CRL is valid 1 to 90 days, not \(configuration.revocationListDays)")
        }
        self.configuration = configuration
        authority = try CertificateAuthority(certificateFile: configuration.certificateFile, keyFile: configuration.keyFile)
        repository = PostgresCertificateRepository(pool: pool)
        self.logger = logger
    }

    /// Signs a certificate for the device from its CSR (valid from a minute ago, for clocks a little behind) and
    /// records it. Throws `CertificateError.request` for a CSR the device must fix, or a device that may not get
    /// one now (the database refuses a device not in the state its origin needs, or one holding 3 unexpired
    /// certificates; a name no certificate may carry).
    public func issue(request: String, deviceId: String, origin: Origin) async throws -> IssuedCertificate {
        if let problem = ReservedNames.problem(deviceId: deviceId) { throw CertificateError.request(problem) }
        let now = Date()
        let certificate = try authority.issue(request: request, deviceId: deviceId, notBefore: now.addingTimeInterval(-60),
                                              notAfter: now.addingTimeInterval(Double(configuration.validityDays) * 86_400))
        do {
            try await repository.insert(certificate, issuedBy: origin.rawValue)
        } catch let error as PostgresCertificateRepository.WrongState {
            throw CertificateError.request(error.description)
        }
        logger.notice("device certificate issued", metadata: [
            "device": "\(deviceId)", "serial": "\(certificate.serial)", "origin": "\(origin.rawValue)",
            "notAfter": "\(certificate.notAfterText)",
        ])
        return certificate
    }

    /// Revokes one certificate for good (the certificate of a claim that failed or lost a race: the device never
    /// learnt it) and writes the list.
    func revokeForGood(_ certificate: IssuedCertificate) async throws {
        try await repository.revoke(serial: certificate.serial)
        try await publishIfBehind()
    }

    /// Writes the list when the database says it misses a change (a suspension, resume or decommissioning by
    /// anyone, a write that failed before). Throws when the write fails: the caller does not count the change as
    /// enforced, and the next round tries again.
    public func publishIfBehind() async throws {
        if try await repository.isBehind() { try await publishRevocationList() }
    }

    /// Writes the list when it is behind, when this process has not written one yet, or after a third of its
    /// validity (an expired CRL makes OpenSSL refuse every certificate of the CA).
    public func refreshIfDue() async throws {
        let now = Int64(Date().timeIntervalSince1970)
        let last = lastPublished.load(ordering: .relaxed)
        if last == 0 || now - last >= Int64(configuration.revocationListDays) * 86_400 / 3 {
            try await publishRevocationList()
        } else {
            try await publishIfBehind()
        }
    }

    /// Signs the current list (dated five minutes back, for a broker whose clock is a little behind), replaces
    /// the file atomically (the broker never reads half a list) and signals the broker.
    public func publishRevocationList() async throws {
        let authority = self.authority
        let configuration = self.configuration
        let (entries, number) = try await repository.writeRevocationList { entries, number in
            let now = Date()
            let pem = try authority.revocationList(entries, number: number, thisUpdate: now.addingTimeInterval(-300),
                                                   nextUpdate: now.addingTimeInterval(Double(configuration.revocationListDays) * 86_400))
            try Self.replace(configuration.revocationListFile, with: pem)
            if let pidFile = configuration.brokerPidFile { try Self.signalReload(pidFile) }
        }
        lastPublished.store(Int64(Date().timeIntervalSince1970), ordering: .relaxed)
        logger.info("device CRL written", metadata: ["entries": "\(entries)", "number": "\(number)",
                                                     "file": "\(configuration.revocationListFile)"])
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

extension IssuedCertificate {
    /// When it expires, as the answers and the logs show it (RFC 3339, whole seconds).
    var notAfterText: String {
        RFC3339.format(micros: Int64(notAfter.timeIntervalSince1970) * 1_000_000, fractionDigits: 0)
    }
}
