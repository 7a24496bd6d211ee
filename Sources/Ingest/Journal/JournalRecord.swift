/// One received MQTT message as the journal keeps it.
public struct JournalRecord: Sendable, Equatable {
    /// Position in the journal: strictly increasing, never reused.
    public var sequence: UInt64
    /// When the gateway received the message, in microseconds since the Unix epoch.
    public var receivedAtMicros: Int64
    public var topic: String
    public var payload: [UInt8]

    public init(sequence: UInt64, receivedAtMicros: Int64, topic: String, payload: [UInt8]) {
        self.sequence = sequence
        self.receivedAtMicros = receivedAtMicros
        self.topic = topic
        self.payload = payload
    }

    /// What the journal keeps instead of a payload too large for a record, and what the broker plugin forwards
    /// instead of a device payload above its limit: a NUL (no JSON or XML starts so) and a note with the size.
    /// The message is still journaled and acknowledged, and becomes a dead letter.
    static let oversizePrefix: [UInt8] = [0] + Array("cip: payload not kept; bytes=".utf8)

    static func oversizeNote(bytes: Int) -> [UInt8] { oversizePrefix + Array(String(bytes).utf8) }

    /// The size of the payload the journal did not keep, when this record is such a note.
    public var oversizedPayloadBytes: Int? {
        guard payload.count > Self.oversizePrefix.count, payload.starts(with: Self.oversizePrefix) else { return nil }
        return Int(String(decoding: payload[Self.oversizePrefix.count...], as: UTF8.self))
    }
}

/// The on-disk form of a record:
///
///     u32 bodyLength | u32 crc32(body) | body
///     body = u64 sequence | i64 receivedAtMicros | u16 topicLength | topic (UTF-8) | payload
///
/// Little-endian. A record whose length or checksum does not hold marks the end of the valid part of a segment
/// (a write torn by a crash or power loss).
enum JournalCodec {
    static let headerSize = 8
    static let fixedBodySize = 8 + 8 + 2
    /// Largest body we accept on read; a length beyond it is damage, not data.
    static let maxBodySize = 16 << 20

    static func encode(_ record: JournalRecord, into buffer: inout [UInt8]) {
        let topic = Array(record.topic.utf8.prefix(Int(UInt16.max)))
        let bodyLength = fixedBodySize + topic.count + record.payload.count
        let start = buffer.count
        append(UInt32(bodyLength), to: &buffer)
        append(UInt32(0), to: &buffer)  // checksum, filled in below
        append(record.sequence, to: &buffer)
        append(UInt64(bitPattern: record.receivedAtMicros), to: &buffer)
        append(UInt16(topic.count), to: &buffer)
        buffer.append(contentsOf: topic)
        buffer.append(contentsOf: record.payload)
        let crc = buffer.withUnsafeBytes {
            CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + headerSize)...]))
        }
        withUnsafeBytes(of: crc.littleEndian) { crcBytes in
            for index in 0..<4 { buffer[start + 4 + index] = crcBytes[index] }
        }
    }

    enum Decoded {
        case record(JournalRecord, length: Int)
        /// Not enough bytes yet for a whole record.
        case incomplete
        /// Bytes that are not a valid record.
        case damaged(String)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded {
        guard bytes.count >= headerSize else { return .incomplete }
        let bodyLength = Int(read(UInt32.self, bytes, at: 0))
        let expectedCRC = read(UInt32.self, bytes, at: 4)
        guard bodyLength >= fixedBodySize, bodyLength <= maxBodySize else {
            return .damaged("record length \(bodyLength) out of bounds")
        }
        guard bytes.count >= headerSize + bodyLength else { return .incomplete }
        let body = UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + bodyLength)])
        guard CRC32.checksum(body) == expectedCRC else { return .damaged("checksum mismatch") }
        let sequence = read(UInt64.self, body, at: 0)
        let received = Int64(bitPattern: read(UInt64.self, body, at: 8))
        let topicLength = Int(read(UInt16.self, body, at: 16))
        guard fixedBodySize + topicLength <= bodyLength else { return .damaged("topic length out of bounds") }
        let topic = String(decoding: body[fixedBodySize..<(fixedBodySize + topicLength)], as: UTF8.self)
        let payload = Array(body[(fixedBodySize + topicLength)...])
        let record = JournalRecord(sequence: sequence, receivedAtMicros: received, topic: topic, payload: payload)
        return .record(record, length: headerSize + bodyLength)
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    private static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + MemoryLayout<T>.size)]))
        }
        return T(littleEndian: value)
    }
}
