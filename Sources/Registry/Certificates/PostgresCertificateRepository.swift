import Certificates
import Foundation
import Postgres

/// Device certificates in PostgreSQL: the one home of table `device_certificates` (migration 0019).
struct PostgresCertificateRepository: Sendable {
    let pool: PostgresPool

    func insert(_ certificate: IssuedCertificate, issuedBy: String) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO device_certificates (serial, device_id, fingerprint, not_before, not_after, issued_by)
                VALUES ($1, $2, $3, \(PostgresSQL.timestamp(micros: "$4::bigint")), \(PostgresSQL.timestamp(micros: "$5::bigint")), $6)
                """, [certificate.serial, certificate.deviceId, certificate.fingerprint,
                      Int64(certificate.notBefore.timeIntervalSince1970) * 1_000_000,
                      Int64(certificate.notAfter.timeIntervalSince1970) * 1_000_000, issuedBy])
        }
    }

    /// Certificates of the device that are neither expired nor revoked (held ones count: a resume restores them).
    func usableCount(deviceId: String) async throws -> Int {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT count(*)::bigint AS n FROM device_certificates
                WHERE device_id = $1 AND not_after > now() AND revocation_reason IS DISTINCT FROM 'cessationOfOperation'
                """, [deviceId]).first.map { row throws(PostgresError) in Int(try row.decode("n") as Int64) } ?? 0
        }
    }

    /// Puts the device's certificates on the CRL for `reason`, or (nil) takes held ones off it. Revocation for good
    /// overrides a hold; nothing overrides it. True when the list changed.
    func setRevocation(deviceId: String, reason: RevokedCertificate.Reason?) async throws -> Bool {
        try await pool.withConnection { connection in
            let changed: PostgresRows
            switch reason {
            case nil:
                changed = try connection.query("""
                    UPDATE device_certificates SET revoked_at = NULL, revocation_reason = NULL
                    WHERE device_id = $1 AND revocation_reason = 'certificateHold' RETURNING serial
                    """, [deviceId])
            case .certificateHold?:
                changed = try connection.query("""
                    UPDATE device_certificates SET revoked_at = now(), revocation_reason = 'certificateHold'
                    WHERE device_id = $1 AND revoked_at IS NULL AND not_after > now() RETURNING serial
                    """, [deviceId])
            case .cessationOfOperation?:
                changed = try connection.query("""
                    UPDATE device_certificates SET revoked_at = coalesce(revoked_at, now()), revocation_reason = 'cessationOfOperation'
                    WHERE device_id = $1 AND revocation_reason IS DISTINCT FROM 'cessationOfOperation' AND not_after > now()
                    RETURNING serial
                    """, [deviceId])
            }
            return !changed.all.isEmpty
        }
    }

    /// What the CRL lists: every revoked or held certificate that has not expired (an expired one is refused by
    /// its dates alone), and the next CRL number.
    func revocationListContents() async throws -> (entries: [RevokedCertificate], number: Int64) {
        try await pool.withConnection { connection in
            let entries = try connection.query("""
                SELECT serial, \(PostgresSQL.epochMicros("revoked_at")) AS revoked_us, revocation_reason
                FROM device_certificates WHERE revoked_at IS NOT NULL AND not_after > now() ORDER BY serial
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
            return (entries, number)
        }
    }
}
