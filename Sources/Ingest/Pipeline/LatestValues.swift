import Storage

/// The newest observation per device and quantity, gathered over several batches so that a device that reports
/// often costs one `latest_observations` update per flush rather than one per message.
struct LatestValues {
    private struct Key: Hashable {
        var device: String
        var quantity: String
    }

    private var newest: [Key: Observation] = [:]

    var isEmpty: Bool { newest.isEmpty }
    var count: Int { newest.count }
    var rows: [Observation] { Array(newest.values) }

    mutating func merge(_ observations: [Observation]) {
        for row in observations {
            let key = Key(device: row.deviceID, quantity: row.quantity)
            if let stored = newest[key], Self.order(stored) > Self.order(row) { continue }
            newest[key] = row
        }
    }

    mutating func removeAll() { newest.removeAll(keepingCapacity: true) }

    /// Which of two values is newer: observed time, then arrival, then position in the pack.
    private static func order(_ row: Observation) -> (Int64, Int64, Int) {
        (row.observedAtMicros, row.receivedAtMicros, row.recordIndex)
    }
}
