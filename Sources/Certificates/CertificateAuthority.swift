import CCrypto
import Foundation
import Synchronization

/// The device CA: signs a certificate for a device id from the device's own certificate signing request (the
/// private key never leaves the device), and signs the revocation list the broker checks. Over OpenSSL's
/// libcrypto, which the broker and libpq use too; no C type leaves this module.
///
/// What a request may decide: nothing but the public key. The subject is the device id the gateway names, the
/// extensions are the gateway's (a client-authentication leaf, never a CA), so a device cannot ask for another
/// identity or for the power to sign.
public final class CertificateAuthority: @unchecked Sendable {
    /// The CA's certificate, PEM (what devices and the broker trust).
    public let certificatePEM: String
    public let subject: String
    private let certificate: OpaquePointer
    private let key: OpaquePointer
    /// OpenSSL objects are shared read-only, but signing is rare: one at a time keeps it simple to reason about.
    private let lock = Mutex<Void>(())

    /// Loads the CA certificate and its private key (PEM files); they must belong together and the certificate
    /// must be a CA's.
    public init(certificateFile: String, keyFile: String) throws(CertificateError) {
        let certificateText = try Self.read(certificateFile)
        let keyText = try Self.read(keyFile)
        guard let certificate = Self.withBIO(certificateText, { PEM_read_bio_X509($0, nil, nil, nil) }) else {
            throw .configuration("\(certificateFile) holds no PEM certificate")
        }
        guard let key = Self.withBIO(keyText, { PEM_read_bio_PrivateKey($0, nil, nil, nil) }) else {
            X509_free(certificate)
            throw .configuration("\(keyFile) holds no PEM private key (an encrypted key is not supported)")
        }
        guard X509_check_private_key(certificate, key) == 1 else {
            X509_free(certificate); EVP_PKEY_free(key)
            throw .configuration("the key in \(keyFile) does not belong to the certificate in \(certificateFile)")
        }
        guard X509_check_ca(certificate) > 0 else {
            X509_free(certificate); EVP_PKEY_free(key)
            throw .configuration("\(certificateFile) is not a CA certificate")
        }
        ERR_clear_error()
        self.certificate = certificate
        self.key = key
        subject = Self.oneLine(X509_get_subject_name(certificate))
        certificatePEM = (try? Self.pem { PEM_write_bio_X509($0, certificate) }) ?? certificateText
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(key)
    }

    // MARK: Issuing

    /// Checks a request without signing anything (what `issue` checks first): cheap, no CA key involved.
    public static func check(request: String) throws(CertificateError) {
        _ = try CertificateSigningRequest(pem: request)
    }

    /// Signs a certificate for `deviceId` with the public key of `request` (PEM), valid from `notBefore` to
    /// `notAfter`. Throws `.request` for a request that is unreadable, not signed by its own key (no proof that
    /// the device holds it) or carries a key too weak to accept.
    public func issue(request: String, deviceId: String, notBefore: Date, notAfter: Date) throws(CertificateError) -> IssuedCertificate {
        let signingRequest = try CertificateSigningRequest(pem: request)
        guard notAfter > notBefore else { throw .configuration("a certificate must end after it begins") }
        // X.520 caps a common name at 64 characters: a longer device id cannot be a certificate's identity.
        guard !deviceId.isEmpty, deviceId.utf8.count <= 64 else {
            throw .request("a device id longer than 64 bytes cannot be a certificate's name; this device uses a password")
        }
        return try lock.withLock { _ throws(CertificateError) in
            defer { ERR_clear_error() }
            guard let x509 = X509_new() else { throw .openssl("X509_new") }
            defer { X509_free(x509) }
            let serial = Self.randomSerial()
            guard X509_set_version(x509, 2) == 1,
                  Self.setSerial(serial, X509_get_serialNumber(x509)),
                  X509_set_issuer_name(x509, X509_get_subject_name(certificate)) == 1,
                  ASN1_TIME_set(X509_getm_notBefore(x509), time_t(notBefore.timeIntervalSince1970)) != nil,
                  ASN1_TIME_set(X509_getm_notAfter(x509), time_t(notAfter.timeIntervalSince1970)) != nil,
                  X509_set_pubkey(x509, signingRequest.publicKey) == 1 else { throw .openssl("setting the certificate's fields") }
            guard let name = X509_NAME_new() else { throw .openssl("X509_NAME_new") }
            defer { X509_NAME_free(name) }
            guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, deviceId, -1, -1, 0) == 1,
                  X509_set_subject_name(x509, name) == 1 else { throw .openssl("naming the device") }
            let keyUsage = EVP_PKEY_get_base_id(signingRequest.publicKey) == EVP_PKEY_RSA
                ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"
            try addExtensions(to: x509, [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, keyUsage),
                (NID_ext_key_usage, "clientAuth"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ])
            guard X509_sign(x509, key, EVP_sha256()) > 0 else { throw .openssl("signing the certificate") }
            let pem = try Self.pem { PEM_write_bio_X509($0, x509) }
            return IssuedCertificate(serial: serial, deviceId: deviceId, pem: pem, fingerprint: try Self.fingerprint(x509),
                                     notBefore: Date(timeIntervalSince1970: notBefore.timeIntervalSince1970.rounded(.down)),
                                     notAfter: Date(timeIntervalSince1970: notAfter.timeIntervalSince1970.rounded(.down)))
        }
    }

    private func addExtensions(to x509: OpaquePointer, _ extensions: [(Int32, String)]) throws(CertificateError) {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, certificate, x509, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { throw .openssl("extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw .openssl("adding extension \(value)") }
        }
    }

    // MARK: Revocation

    /// A signed CRL (PEM, version 2) listing `revoked`, numbered `number`, valid until `nextUpdate`.
    public func revocationList(_ revoked: [RevokedCertificate], number: Int64, thisUpdate: Date,
                               nextUpdate: Date) throws(CertificateError) -> String {
        try lock.withLock { _ throws(CertificateError) in
            defer { ERR_clear_error() }
            guard let crl = X509_CRL_new() else { throw .openssl("X509_CRL_new") }
            defer { X509_CRL_free(crl) }
            guard X509_CRL_set_version(crl, 1) == 1,
                  X509_CRL_set_issuer_name(crl, X509_get_subject_name(certificate)) == 1,
                  Self.withTime(thisUpdate, { X509_CRL_set1_lastUpdate(crl, $0) }) == 1,
                  Self.withTime(nextUpdate, { X509_CRL_set1_nextUpdate(crl, $0) }) == 1 else { throw .openssl("setting the CRL's fields") }
            for entry in revoked {
                guard let revokedEntry = X509_REVOKED_new() else { throw .openssl("X509_REVOKED_new") }
                guard let serial = ASN1_INTEGER_new() else { X509_REVOKED_free(revokedEntry); throw .openssl("ASN1_INTEGER_new") }
                defer { ASN1_INTEGER_free(serial) }
                guard let reason = ASN1_ENUMERATED_new() else { X509_REVOKED_free(revokedEntry); throw .openssl("ASN1_ENUMERATED_new") }
                defer { ASN1_ENUMERATED_free(reason) }
                guard Self.setSerial(entry.serial, serial),
                      X509_REVOKED_set_serialNumber(revokedEntry, serial) == 1,
                      Self.withTime(entry.revokedAt, { X509_REVOKED_set_revocationDate(revokedEntry, $0) }) == 1,
                      ASN1_ENUMERATED_set(reason, entry.reason.code) == 1,
                      X509_REVOKED_add1_ext_i2d(revokedEntry, NID_crl_reason, UnsafeMutableRawPointer(reason), 0, 0) == 1,
                      X509_CRL_add0_revoked(crl, revokedEntry) == 1 else {
                    X509_REVOKED_free(revokedEntry)
                    throw .openssl("listing serial \(entry.serial)")
                }
            }
            // Which CA key signed the list (RFC 5280 5.2.1), for a relying party that holds several.
            var context = X509V3_CTX()
            X509V3_set_ctx(&context, certificate, nil, nil, crl, 0)
            guard let authorityKey = X509V3_EXT_conf_nid(nil, &context, NID_authority_key_identifier, "keyid:always") else {
                throw .openssl("the CRL's authority key identifier")
            }
            defer { X509_EXTENSION_free(authorityKey) }
            guard X509_CRL_add_ext(crl, authorityKey, -1) == 1 else { throw .openssl("adding the authority key identifier") }
            guard let crlNumber = ASN1_INTEGER_new() else { throw .openssl("ASN1_INTEGER_new") }
            defer { ASN1_INTEGER_free(crlNumber) }
            guard ASN1_INTEGER_set_int64(crlNumber, number) == 1,
                  X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(crlNumber), 0, 0) == 1,
                  X509_CRL_sort(crl) == 1,
                  X509_CRL_sign(crl, key, EVP_sha256()) > 0 else { throw .openssl("signing the CRL") }
            return try Self.pem { PEM_write_bio_X509_CRL($0, crl) }
        }
    }

    // MARK: Helpers

    /// 128 random bits as upper-case hex, the top bit clear (a positive DER integer) and never zero.
    static func randomSerial() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = bytes[0] & 0x7F | 0x40
        return bytes.map { String(format: "%02X", $0) }.joined()
    }

    /// Sets an ASN1 integer to the hex `serial`.
    private static func setSerial(_ serial: String, _ target: UnsafeMutablePointer<ASN1_INTEGER>?) -> Bool {
        guard let target else { return false }
        var bignum: OpaquePointer? = nil
        guard BN_hex2bn(&bignum, serial) == Int32(serial.utf8.count), let bignum else { return false }
        defer { BN_free(bignum) }
        return BN_to_ASN1_INTEGER(bignum, target) != nil
    }

    private static func withTime(_ date: Date, _ body: (UnsafeMutablePointer<ASN1_TIME>) -> Int32) -> Int32 {
        guard let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970)) else { return 0 }
        defer { ASN1_STRING_free(time) }
        return body(time)
    }

    private static func fingerprint(_ x509: OpaquePointer) throws(CertificateError) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(x509, EVP_sha256(), &digest, &length) == 1 else { throw .openssl("X509_digest") }
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }

    static func read(_ path: String) throws(CertificateError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .configuration("cannot read \(path)")
        }
        return text
    }

    /// Runs `body` with a read-only memory BIO over `text`.
    static func withBIO<T>(_ text: String, _ body: (OpaquePointer) -> T?) -> T? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { buffer -> T? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }

    /// What `write` puts into a memory BIO, as text.
    static func pem(_ write: (OpaquePointer) -> Int32) throws(CertificateError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openssl("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .openssl("writing PEM") }
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = cip_bio_mem_data(bio, &data)
        guard length > 0, let data else { throw .openssl("reading PEM") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    static func oneLine(_ name: OpaquePointer?) -> String {
        guard let name, let text = X509_NAME_oneline(name, nil, 0) else { return "" }
        defer { CRYPTO_free(text, #fileID, #line) }
        return String(cString: text)
    }
}

/// A certificate the CA signed.
public struct IssuedCertificate: Sendable, Equatable {
    /// Upper-case hex, as the CRL and `openssl x509 -serial` print it.
    public var serial: String
    public var deviceId: String
    public var pem: String
    /// SHA-256 of the DER certificate, lower-case hex.
    public var fingerprint: String
    public var notBefore: Date
    public var notAfter: Date

    public init(serial: String, deviceId: String, pem: String, fingerprint: String, notBefore: Date, notAfter: Date) {
        self.serial = serial
        self.deviceId = deviceId
        self.pem = pem
        self.fingerprint = fingerprint
        self.notBefore = notBefore
        self.notAfter = notAfter
    }
}

/// An entry of the CRL.
public struct RevokedCertificate: Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// Suspension: reversible, the entry leaves the list when the device is resumed (RFC 5280 5.3.1).
        case certificateHold
        /// Decommissioned for good.
        case cessationOfOperation

        var code: Int {
            switch self {
            case .certificateHold: 6
            case .cessationOfOperation: 5
            }
        }
    }

    public var serial: String
    public var revokedAt: Date
    public var reason: Reason

    public init(serial: String, revokedAt: Date, reason: Reason) {
        self.serial = serial
        self.revokedAt = revokedAt
        self.reason = reason
    }
}

public enum CertificateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The device's request is refused; the reason is for the device.
    case request(String)
    /// The CA's files or parameters are wrong; the reason is for the operator.
    case configuration(String)
    /// libcrypto failed where it should not.
    case openssl(String)

    public var description: String {
        switch self {
        case .request(let reason): "certificate request refused: \(reason)"
        case .configuration(let reason): "device CA: \(reason)"
        case .openssl(let step): "libcrypto failed: \(step)"
        }
    }
}
