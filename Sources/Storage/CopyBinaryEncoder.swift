/// Builds PostgreSQL's binary COPY format: no escaping, no text parsing on the server, bytea as raw bytes.
/// Each row must write exactly the table's columns, in order.
struct CopyBinaryEncoder {
    private(set) var bytes: [UInt8] = []
    private let columns: Int16

    /// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
    static let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

    init(columns: Int, capacity: Int = 0) {
        self.columns = Int16(columns)
        bytes.reserveCapacity(capacity + 19)
        bytes.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        append(Int32(0))  // flags
        append(Int32(0))  // header extension length
    }

    mutating func startRow() { append(columns) }

    mutating func null() { append(Int32(-1)) }

    mutating func text(_ value: String?) {
        guard var value else { return null() }
        value.withUTF8 { utf8 in
            append(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func bytea(_ value: [UInt8]?) {
        guard let value else { return null() }
        append(Int32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func float8(_ value: Double?) {
        guard let value, value.isFinite else { return null() }
        append(Int32(8))
        append(value.bitPattern)
    }

    mutating func boolean(_ value: Bool?) {
        guard let value else { return null() }
        append(Int32(1))
        bytes.append(value ? 1 : 0)
    }

    mutating func int2(_ value: Int?) {
        guard let value else { return null() }
        append(Int32(2))
        append(Int16(truncatingIfNeeded: value))
    }

    /// jsonb in binary form: a version byte, then the JSON text.
    mutating func jsonb(_ json: String) {
        let utf8 = Array(json.utf8)
        append(Int32(utf8.count + 1))
        bytes.append(1)
        bytes.append(contentsOf: utf8)
    }

    mutating func int4(_ value: Int?) {
        guard let value else { return null() }
        append(Int32(4))
        append(Int32(truncatingIfNeeded: value))
    }

    mutating func int8(_ value: Int64?) {
        guard let value else { return null() }
        append(Int32(8))
        append(value)
    }

    /// A timestamptz from microseconds since the Unix epoch. Wrapping, never trapping: a time outside
    /// PostgreSQL's range is refused by the server for its row (and isolated as poison), not a crash here.
    mutating func timestamp(micros: Int64) {
        append(Int32(8))
        append(micros &- Self.postgresEpochOffsetMicros)
    }

    /// Closes the stream; the encoder is not used after this.
    mutating func finish() -> [UInt8] {
        append(Int16(-1))
        return bytes
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
