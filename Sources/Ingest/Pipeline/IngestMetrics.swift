import Metrics

/// The pipeline's figures, exported at /metrics.
public struct IngestMetrics: Sendable {
    let received = Counter(label: "cip_messages_received_total")
    let stored = Counter(label: "cip_observations_stored_total")
    let deadLettered = Counter(label: "cip_dead_letters_total")
    let messagesCommitted = Counter(label: "cip_messages_committed_total")
    let writeFailures = Counter(label: "cip_batch_write_failures_total")
    /// Messages whose data the database refused, dead-lettered by poison isolation.
    let poisoned = Counter(label: "cip_poison_messages_total")
    /// Messages quarantined by the replay guard (they stopped the gateway while normalized).
    let quarantined = Counter(label: "cip_quarantined_messages_total")
    let backlog = Gauge(label: "cip_journal_backlog_messages")
    let segments = Gauge(label: "cip_journal_segments")
    let batchSize = Recorder(label: "cip_batch_messages", aggregate: true)
    let commitLatency = Metrics.Timer(label: "cip_batch_commit_seconds")

    public init() {}
}
