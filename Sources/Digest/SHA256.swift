import CCrypto

/// SHA-256 from libcrypto (OpenSSL): message keys, claim-code and token hashes all go through here.
public enum SHA256 {
    public static let length = 32

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var digestLength: UInt32 = 0
        let ok = bytes.withUnsafeBytes { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &digest, &digestLength, EVP_sha256(), nil)
        }
        precondition(ok == 1 && Int(digestLength) == length, "EVP_Digest(SHA-256) failed")
        return Array(digest.prefix(length))
    }

    /// Compares two digests in time independent of where they first differ.
    public static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
