import Dispatch
import Logging
import Postgres
import ServiceLifecycle
import Storage

/// Drains the journal into PostgreSQL: reads a batch, normalizes it, writes it in one transaction, then marks
/// it committed in the journal. The next batch is normalized while the current one is written. When the
/// database is unreachable it retries the same batch with backoff; the journal keeps accepting meanwhile.
public final class IngestPipeline: Service, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Messages per transaction at most.
        public var maxBatchMessages = 2_000
        public var normalizer = Normalizer.Limits()
        public var retryInitialDelay: Duration = .milliseconds(100)
        public var retryMaxDelay: Duration = .seconds(5)

        public init() {}
    }

    private let journal: Journal
    private let pool: PostgresPool
    private let store = IngestStore()
    private let configuration: Configuration
    private let normalizer: Normalizer
    private let logger: Logger
    private let metrics = IngestMetrics()
    /// Runs once on the database before the first write (migrations, partitions), retried like a write.
    private let prepare: @Sendable (PostgresConnection) throws -> Void
    private var prepared = false

    /// - Parameter pool: a pool reserved for the pipeline (one connection is enough).
    public init(journal: Journal, pool: PostgresPool, configuration: Configuration = .init(), logger: Logger,
                prepare: @escaping @Sendable (PostgresConnection) throws -> Void = { _ in }) {
        self.journal = journal
        self.prepare = prepare
        self.pool = pool
        self.configuration = configuration
        self.normalizer = Normalizer(limits: configuration.normalizer)
        self.logger = logger
    }

    public func run() async throws {
        let reader = ReaderBox(journal.reader(after: journal.committedSequence))
        logger.info("ingest pipeline started", metadata: ["from": "\(reader.reader.position + 1)"])
        // Runs until graceful shutdown; then drains what is journaled (bounded by the shutdown timeout).
        var next = Task { await self.nextBatch(reader, waitIfEmpty: true) }
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully {
                guard let batch = await next.value else { break }
                next = Task { await self.nextBatch(reader, waitIfEmpty: true) }
                await self.commit(batch)
            }
        } onGracefulShutdown: {
            self.journal.wakeReaders()
        }
        // Drain: whatever the journal holds now goes in before we return.
        if let batch = await next.value { await commit(batch) }
        while let batch = await nextBatch(reader, waitIfEmpty: false) {
            await commit(batch)
        }
        journal.sync()
        logger.info("ingest pipeline stopped", metadata: ["committed": "\(journal.committedSequence)"])
    }

    /// Reads and normalizes the next batch; nil when there is nothing (and we should not or cannot wait).
    private func nextBatch(_ box: ReaderBox, waitIfEmpty: Bool) async -> IngestBatch? {
        while true {
            let records = box.reader.next(maxRecords: configuration.maxBatchMessages)
            if !records.isEmpty {
                var batch = IngestBatch()
                batch.observations.reserveCapacity(records.count * 3)
                for record in records {
                    let output = normalizer.normalize(record)
                    batch.observations.append(contentsOf: output.observations)
                    batch.deadLetters.append(contentsOf: output.deadLetters)
                    batch.rawMessages.append(output.rawMessage)
                }
                batch.lastSequence = records[records.count - 1].sequence
                metrics.received.increment(by: Int64(records.count))
                return batch
            }
            if !waitIfEmpty || Task.isShuttingDownGracefully { return nil }
            await journal.waitForRecords(after: box.reader.position)
            if Task.isShuttingDownGracefully, journal.lastSequence <= box.reader.position { return nil }
        }
    }

    /// Writes one batch, retrying until it is committed.
    private func commit(_ batch: IngestBatch) async {
        var delay = configuration.retryInitialDelay
        var attempt = 0
        while true {
            attempt += 1
            let started = DispatchTime.now().uptimeNanoseconds
            do {
                if !prepared {
                    try await pool.withConnection(prepare)
                    prepared = true
                }
                let store = self.store
                let stored = try await pool.withConnection { try store.write(batch, on: $0) }
                metrics.commitLatency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
                metrics.batchSize.record(batch.rawMessages.count)
                metrics.stored.increment(by: Int64(stored))
                metrics.deadLettered.increment(by: Int64(batch.deadLetters.count))
                metrics.messagesCommitted.increment(by: Int64(batch.rawMessages.count))
                journal.markCommitted(through: batch.lastSequence)
                metrics.backlog.record(Int64(journal.backlog))
                metrics.segments.record(journal.segmentCount)
                if attempt > 1 {
                    logger.info("database writes resumed", metadata: ["attempts": "\(attempt)"])
                }
                return
            } catch {
                // Cancelled (shutdown timed out): stop; the journal still holds the batch for the next start.
                if Task.isCancelled { return }
                metrics.writeFailures.increment()
                metrics.backlog.record(Int64(journal.backlog))
                if attempt == 1 || attempt % 20 == 0 {
                    logger.error("batch write failed; retrying", metadata: [
                        "error": "\(error)", "attempt": "\(attempt)", "backlog": "\(journal.backlog)",
                    ])
                }
                if let error = error as? PostgresError, !error.isTransient {
                    // A statement the server refuses will be refused again: this is a bug, not an outage.
                    // Keep retrying slowly rather than drop accepted data; the log says why.
                    delay = configuration.retryMaxDelay
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.retryMaxDelay)
            }
        }
    }
}

/// The reader is used by one task at a time (the pipeline hands it from one batch task to the next).
private final class ReaderBox: @unchecked Sendable {
    let reader: JournalReader
    init(_ reader: JournalReader) { self.reader = reader }
}
