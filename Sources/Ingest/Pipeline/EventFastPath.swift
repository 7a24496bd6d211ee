import Logging
import Postgres
import ServiceLifecycle
import Storage

/// The fast path for device events (alarms): a message on `devices/<id>/events`, once journaled, is also
/// normalized here and its events are written at once in a small transaction of their own, so an alarm does not
/// wait behind telemetry batches (after an outage, behind the whole backlog). The pipeline writes the same
/// message later with everything else; the events table's key (message key, event, source path) makes that
/// second write a no-op. If this path fails, nothing is lost: the pipeline still writes the events.
public final class EventFastPath: Service, Sendable {
    private let pool: PostgresPool
    private let normalizer: Normalizer
    private let directory: DeviceDirectory
    private let logger: Logger
    private let records: AsyncStream<JournalRecord>
    private let sink: AsyncStream<JournalRecord>.Continuation

    public init(pool: PostgresPool, normalizer: Normalizer, directory: DeviceDirectory, logger: Logger) {
        self.pool = pool
        self.normalizer = normalizer
        self.directory = directory
        self.logger = logger
        // Bounded: under a flood the oldest wait for the pipeline instead.
        (records, sink) = AsyncStream<JournalRecord>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Called by the ingress right after the message is journaled (on the network thread: never blocks).
    public func submit(_ record: JournalRecord) {
        sink.yield(record)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            var iterator = records.makeAsyncIterator()
            while let first = await iterator.next() {
                let events = normalizer.normalize(first, devices: directory.snapshot).events
                guard !events.isEmpty else { continue }
                do {
                    try await pool.withConnection { connection in
                        try connection.transaction { try IngestStore.insertEvents(events, on: $0) }
                    }
                } catch {
                    logger.warning("event fast path failed; the pipeline writes the event with its batch",
                                   metadata: ["error": "\(error)", "topic": "\(first.topic)"])
                }
            }
        } onGracefulShutdown: {
            self.sink.finish()
        }
    }
}
