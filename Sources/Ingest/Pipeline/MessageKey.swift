import Digest

/// The stable identity of a message: the first 16 bytes of SHA-256 over topic and payload, and, for payloads
/// whose times are relative to arrival, the arrival time too.
///
/// A payload that carries absolute times states facts that do not change when it is delivered again, so a
/// broker redelivery (after a crash between journaling and PUBACK) gets the same key and is stored once. A
/// payload without absolute times cannot be told apart from the same reading sent again later, so its
/// arrival time is part of its identity: replaying the journal (same arrival time) is still idempotent.
public enum MessageKey {
    public static let length = 16

    public static func compute(topic: String, payload: [UInt8], receivedAtMicros: Int64?) -> [UInt8] {
        var input: [UInt8] = []
        input.reserveCapacity(topic.utf8.count + 1 + payload.count + 8)
        input.append(contentsOf: topic.utf8)
        input.append(0)
        input.append(contentsOf: payload)
        if let receivedAtMicros {
            withUnsafeBytes(of: receivedAtMicros.littleEndian) { input.append(contentsOf: $0) }
        }
        return Array(SHA256.hash(input).prefix(Self.length))
    }

    /// The key of a record's content alone (topic and payload, whatever its arrival): what the crash guards
    /// remember a message by, since a device or the broker may send the same message again.
    public static func content(of record: JournalRecord) -> [UInt8] {
        compute(topic: record.topic, payload: record.payload, receivedAtMicros: nil)
    }
}
