import Digest

/// One-time claim codes for zero-touch onboarding.
///
/// A code is shown once at registration (printed on the box's label or handed to the installer), stored only as
/// `hash(code, salt:)` with a per-code random salt, and checked with `verify` when the device publishes
/// `{ "serial": ..., "claimCode": ... }` to `provisioning/<serial>/claim`.
///
/// Format: 5 groups of 4 characters, e.g. `K7QH-2M9X-RT4C-8VWN-J3PA`, drawn uniformly from a 31-character alphabet
/// without the look-alikes 0/O, 1/I/L. 20 × log2(31) ≈ 99 bits of entropy. (4 groups of 4 from this alphabet would
/// give only 16 × log2(31) ≈ 79.3 bits, just under the 80-bit floor, so a fifth group is used.)
public struct ClaimCode: Sendable {
    /// The code alphabet: digits 2–9 and letters A–Z without I, L, O (31 characters).
    public static let alphabet: [UInt8] = Array("23456789ABCDEFGHJKMNPQRSTUVWXYZ".utf8)
    public static let groupCount = 5
    public static let groupLength = 4
    /// Characters in a code without separators.
    public static var length: Int { groupCount * groupLength }
    /// Bytes of a freshly generated salt.
    public static let saltLength = 16
    /// Bytes of a stored hash (SHA-256).
    public static let hashLength = 32

    /// A new random code, grouped with dashes. Uses `SystemRandomNumberGenerator` (the OS CSPRNG) and
    /// `random(in:)`, which is free of modulo bias.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        return generate(using: &rng)
    }

    /// A new code from the given generator (tests may pass a seeded one; production uses `generate()`).
    public static func generate<G: RandomNumberGenerator>(using rng: inout G) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length + groupCount - 1)
        for group in 0..<groupCount {
            if group > 0 { bytes.append(UInt8(ascii: "-")) }
            for _ in 0..<groupLength {
                bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A fresh random salt for `hash`.
    public static func generateSalt() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<saltLength).map { _ in UInt8.random(in: 0...UInt8.max, using: &rng) }
    }

    /// Canonical form of a typed or transmitted code: ASCII uppercased, spaces, tabs and dashes removed.
    /// `k7qh 2m9x-rt4c-8vwn-j3pa` → `K7QH2M9XRT4C8VWNJ3PA`.
    public static func normalize(_ code: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(code.utf8.count)
        for byte in code.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "\t"):
                continue
            case UInt8(ascii: "a")...UInt8(ascii: "z"):
                out.append(byte - 32)
            default:
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `code` (after `normalize`) has the right length and only alphabet characters. Lets the claim handler
    /// answer "malformed claim code" precisely without touching storage. `verify` does not require it.
    public static func isWellFormed(_ code: String) -> Bool {
        let normalized = normalize(code).utf8
        return normalized.count == length && normalized.allSatisfy { alphabet.contains($0) }
    }

    /// The value to store: SHA-256("cip-gateway/claim-code/v1" ‖ 0x00 ‖ salt ‖ normalize(code)).
    ///
    /// Why a single salted SHA-256 and not PBKDF2: a slow KDF protects low-entropy secrets (passwords) against
    /// offline guessing. These codes are generated, not chosen, and carry ≈ 99 bits of entropy: even at 10^12
    /// SHA-256 guesses per second, exhausting half the space of one code takes ~10^10 years, and the per-code salt
    /// rules out precomputation and cross-code work. Codes also expire and are single-use. PBKDF2 with 10,000
    /// iterations would add nothing against that, but would cost milliseconds per code, which adds up to tens of
    /// seconds for a 10,000-device bulk import (the issue asks for seconds) and makes every claim attempt a small
    /// CPU amplification target.
    public static func hash(_ code: String, salt: [UInt8]) -> [UInt8] {
        var input: [UInt8] = Array(domain.utf8)
        input.append(0)
        input.append(contentsOf: salt)
        input.append(contentsOf: normalize(code).utf8)
        return SHA256.hash(input)
    }

    /// Whether `code` matches the stored `hash` for `salt`. The comparison takes the same time wherever the first
    /// differing byte is.
    public static func verify(_ code: String, salt: [UInt8], hash expected: [UInt8]) -> Bool {
        SHA256.equal(hash(code, salt: salt), expected)
    }

    private static let domain = "cip-gateway/claim-code/v1"
}
