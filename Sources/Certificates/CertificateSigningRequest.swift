import CCrypto

/// A device's PKCS #10 request, checked before anything is signed: PEM of bounded size, signed by the key it
/// carries (the device proves it holds the private key), and that key strong enough: EC P-256 or P-384, or RSA
/// of 2048 to 4096 bits. Its subject and extensions are ignored (`CertificateAuthority.issue`).
final class CertificateSigningRequest {
    static let maximumLength = 8_192

    let publicKey: OpaquePointer
    private let request: OpaquePointer

    init(pem: String) throws(CertificateError) {
        defer { ERR_clear_error() }
        guard pem.utf8.count <= Self.maximumLength else {
            throw .request("the CSR is longer than \(Self.maximumLength) bytes")
        }
        guard pem.contains("-----BEGIN CERTIFICATE REQUEST-----"),
              let request = CertificateAuthority.withBIO(pem, { PEM_read_bio_X509_REQ($0, nil, nil, nil) }) else {
            throw .request("the CSR is not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)")
        }
        guard let key = X509_REQ_get_pubkey(request) else {
            X509_REQ_free(request)
            throw .request("the CSR carries no readable public key")
        }
        guard X509_REQ_verify(request, key) == 1 else {
            EVP_PKEY_free(key); X509_REQ_free(request)
            throw .request("the CSR is not signed by the key it carries")
        }
        if let weakness = Self.weakness(key) {
            EVP_PKEY_free(key); X509_REQ_free(request)
            throw .request(weakness)
        }
        self.request = request
        publicKey = key
    }

    deinit {
        EVP_PKEY_free(publicKey)
        X509_REQ_free(request)
    }

    private static func weakness(_ key: OpaquePointer) -> String? {
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_EC:
            // A named curve only: a key with explicit curve parameters would get a certificate OpenSSL refuses.
            var encoding = [CChar](repeating: 0, count: 32)
            var encodingLength = 0
            if EVP_PKEY_get_utf8_string_param(key, "encoding", &encoding, encoding.count, &encodingLength) == 1,
               String(decoding: encoding.prefix(encodingLength).map { UInt8(bitPattern: $0) }, as: UTF8.self) != "named_curve" {
                return "the CSR's EC key carries explicit curve parameters; use a named curve (P-256 or P-384)"
            }
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else { return "the CSR's EC curve cannot be read" }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return ["prime256v1", "P-256", "secp384r1", "P-384"].contains(curve)
                ? nil : "the CSR's EC key is on \(curve); P-256 or P-384 is accepted"
        case EVP_PKEY_RSA:
            return (2_048...4_096).contains(bits) ? nil : "the CSR's RSA key has \(bits) bits; 2048 to 4096 are accepted"
        default:
            return "the CSR's key type is not accepted (EC P-256/P-384 or RSA 2048-4096)"
        }
    }
}
