import Certificates
import Foundation
import Postgres

/// Device certificates in PostgreSQL: the one home of tables `device_certificates` and `device_crl` (migration
/// 0019). What the CRL must say follows the lifecycle inside the database (triggers); this repository records
/// what is issued and writes the list when the database says it is behind.
struct PostgresCertificateRepository: Sendable {
    let pool: PostgresPool

    /// The device is not in the state the certificate's origin needs (checked by the database under a lock on
    /// the device's row).
    struct WrongState: Error, CustomStringConvertible { var description: String }

    func insert(_ certificate: IssuedCertificate, issuedBy: String) async throws {
        do {
            try await pool.withConnection { connection in
                try connection.query("""
                    INSERT INTO device_certificates (serial, device_id, fingerprint, not_before, not_after, issued_by)
                    VALUES ($1, $2, $3, \(PostgresSQL.timestamp(micros: "$4::bigint")), \(PostgresSQL.timestamp(micros: "$5::bigint")), $6)
                    """, [certificate.serial, certificate.deviceId, certificate.fingerprint,
                          Int64(certificate.notBefore.timeIntervalSince1970) * 1_000_000,
                          Int64(certificate.notAfter.timeIntervalSince1970) * 1_000_000, issuedBy])
            }
        } catch let error as PostgresError where error.sqlState == "23514" && error.message.contains("device_certificates: the device ") {
            throw WrongState(description: error.message.components(separatedBy: "device_certificates: ").last ?? error.message)
        }
    }

    /// Whether the device has a certificate the broker would accept by its dates (revoked or not): only then
    /// does the written CRL matter for it.
    func hasUnexpired(deviceId: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("SELECT 1 AS one FROM device_certificates WHERE device_id = $1 AND not_after > now() LIMIT 1",
                                 [deviceId]).count > 0
        }
    }

    /// Revokes one certificate for good.
    func revoke(serial: String) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE device_certificates SET revoked_at = now(), revocation_reason = 'cessationOfOperation'
                WHERE serial = $1 AND revocation_reason IS DISTINCT FROM 'cessationOfOperation'
                """, [serial])
        }
    }

    /// Whether the written CRL misses a change of the table.
    func isBehind() async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("SELECT (published_version IS DISTINCT FROM version) AS behind FROM device_crl")
                .first?.decode("behind") ?? true
        }
    }

    /// Writes the list: under the lock of the CRL's row (so lists of several writers never overtake each other,
    /// and a change committed meanwhile marks the list behind again), reads every revoked or held certificate
    /// that has not expired a day ago (an expired one is refused by its dates alone, the day covers a broker
    /// whose clock lags) and a new number, lets `write` sign
    /// and install it, and records what was written. Nothing is recorded when `write` throws.
    func writeRevocationList(_ write: @escaping @Sendable ([RevokedCertificate], Int64) throws -> Void) async throws -> (entries: Int, number: Int64) {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                let version: Int64 = try connection.query("SELECT version FROM device_crl FOR UPDATE").first?.decode("version") ?? 0
                let entries = try connection.query("""
                    SELECT serial, \(PostgresSQL.epochMicros("revoked_at")) AS revoked_us, revocation_reason
                    FROM device_certificates WHERE revoked_at IS NOT NULL AND not_after > now() - interval '1 day' ORDER BY serial
                    """).all.map { row throws(PostgresError) -> RevokedCertificate in
                    let reason: String = try row.decode("revocation_reason")
                    guard let parsed = RevokedCertificate.Reason(rawValue: reason) else {
                        throw PostgresError(kind: .decoding, message: "device_certificates.revocation_reason \(reason) is unknown")
                    }
                    return RevokedCertificate(serial: try row.decode("serial"),
                                              revokedAt: Date(timeIntervalSince1970: Double(try row.decode("revoked_us") as Int64) / 1e6),
                                              reason: parsed)
                }
                let number: Int64 = try connection.query("SELECT nextval('device_crl_number') AS n").first?.decode("n") ?? 0
                try write(entries, number)
                try connection.query("""
                    UPDATE device_crl SET published_version = $1, published_number = $2, published_at = now()
                    """, [version, number])
                return (entries.count, number)
            }
        }
    }
}
