/// Decoder for SenML data values: base64 with the URL-safe alphabet and no padding
/// (RFC 8428 §4.3 and §5, RFC 4648 §5). Strict: padding, the standard-alphabet
/// characters '+' and '/', impossible lengths and non-zero leftover bits are rejected,
/// so every accepted string has exactly one meaning.
enum SenMLBase64URL {
    struct Problem: Error, Equatable {
        var reason: String
    }

    static func decode(_ text: String) -> Result<[UInt8], Problem> {
        let input = text.utf8
        let count = input.count
        if count % 4 == 1 {
            return .failure(Problem(reason: "base64url data of \(count) characters is truncated (a length of 4n+1 is impossible)"))
        }
        var output: [UInt8] = []
        output.reserveCapacity(count / 4 * 3 + 2)
        var accumulator: UInt32 = 0
        var bitCount = 0
        for (position, byte) in input.enumerated() {
            guard let sextet = sextetValue(byte) else {
                return .failure(Problem(reason: invalidCharacterReason(byte, at: position)))
            }
            accumulator = (accumulator << 6) | UInt32(sextet)
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bitCount)))
                accumulator &= (1 << UInt32(bitCount)) - 1
            }
        }
        if accumulator != 0 {
            return .failure(Problem(reason: "base64url data has non-zero unused bits in its last character (not canonically encoded)"))
        }
        return .success(output)
    }

    private static func sextetValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }

    private static func invalidCharacterReason(_ byte: UInt8, at position: Int) -> String {
        switch byte {
        case UInt8(ascii: "="):
            return "base64url data must not be padded: '=' at position \(position) (RFC 8428 §4.3)"
        case UInt8(ascii: "+"), UInt8(ascii: "/"):
            let replacement = byte == UInt8(ascii: "+") ? "-" : "_"
            return "'\(Character(Unicode.Scalar(byte)))' at position \(position) is standard base64; SenML data uses base64url ('\(replacement)' instead) (RFC 8428 §4.3)"
        case 0x20..<0x7F:
            return "'\(Character(Unicode.Scalar(byte)))' at position \(position) is not a base64url character"
        default:
            let hex = String(byte, radix: 16, uppercase: true)
            return "byte 0x\(byte < 0x10 ? "0" + hex : hex) at position \(position) is not a base64url character"
        }
    }
}
