/// Builds the text format of PostgreSQL's COPY: tab-separated columns, `\N` for NULL, backslash escapes.
struct CopyEncoder {
    private(set) var bytes: [UInt8] = []
    private var columnInRow = 0

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    private mutating func separate() {
        if columnInRow > 0 { bytes.append(0x09) }
        columnInRow += 1
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: [0x5C, 0x4E])  // \N
    }

    mutating func text(_ value: String?) {
        guard let value else { return null() }
        separate()
        for byte in value.utf8 {
            switch byte {
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0x00: continue  // PostgreSQL text cannot hold NUL; our inputs are validated UTF-8 without it
            default: bytes.append(byte)
            }
        }
    }

    mutating func integer<T: BinaryInteger>(_ value: T?) {
        guard let value else { return null() }
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func double(_ value: Double?) {
        guard let value, value.isFinite else { return null() }
        separate()
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func boolean(_ value: Bool?) {
        guard let value else { return null() }
        separate()
        bytes.append(value ? 0x74 : 0x66)
    }

    /// bytea in hex form; the backslash of `\x` is itself escaped for COPY.
    mutating func bytea(_ value: [UInt8]?) {
        guard let value else { return null() }
        separate()
        bytes.append(contentsOf: [0x5C, 0x5C, 0x78])
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for byte in value {
            bytes.append(hex[Int(byte >> 4)])
            bytes.append(hex[Int(byte & 0x0F)])
        }
    }

    mutating func endRow() {
        bytes.append(0x0A)
        columnInRow = 0
    }
}
