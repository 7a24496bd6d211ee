import Telemetry

/// The newest observation per device and quantity. The pipeline gathers them over several batches, so that a
/// device that reports often costs one `latest_observations` update per flush rather than one per message.
public struct LatestValues: Sendable {
    private struct Key: Hashable {
        var device: String
        var quantity: String
    }

    private var newest: [Key: Observation] = [:]

    public init() {}

    public var isEmpty: Bool { newest.isEmpty }
    public var count: Int { newest.count }
    public var rows: [Observation] { Array(newest.values) }

    public mutating func merge(_ observations: [Observation]) {
        for row in observations {
            let key = Key(device: row.deviceID, quantity: row.quantity)
            if let stored = newest[key], Self.order(stored) > Self.order(row) { continue }
            newest[key] = row
        }
    }

    public mutating func removeAll() { newest.removeAll(keepingCapacity: true) }

    /// Which of two values is newer: observed time, then arrival, then position in the pack.
    private static func order(_ row: Observation) -> (Int64, Int64, Int) {
        (row.observedAtMicros, row.receivedAtMicros, row.recordIndex)
    }
}
