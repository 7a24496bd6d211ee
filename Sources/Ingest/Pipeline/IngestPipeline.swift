import Dispatch
import Logging
import Postgres
import ServiceLifecycle
import Storage
import Synchronization
import Telemetry

/// Drains the journal into PostgreSQL: reads a batch, normalizes it, writes it in one transaction. The next
/// batch is normalized while the current one is written. When the database is unreachable it retries the same
/// batch with backoff; the journal keeps accepting meanwhile.
///
/// Latest values are gathered over batches and written at most every `latestFlushInterval` (and when the
/// stream pauses). The journal checkpoint moves only with a latest flush, so after a crash the replay rebuilds
/// whatever latest values had not been written; the replayed observations themselves are skipped as repeats.
public final class IngestPipeline: Service, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Messages per transaction at most.
        public var maxBatchMessages = 5_000
        public var normalizer = Normalizer.Limits()
        public var latestFlushInterval: Duration = .seconds(1)
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
    /// Registered devices in memory (kept coherent by a `DirectoryListener`); unknown ids are looked up per batch.
    public let directory: DeviceDirectory
    /// Told about each committed batch (supervision first; geofences and lock access later).
    public let observers: [any BatchObserver]

    // Touched only by the task running `run()`.
    private var prepared = false
    private var latest = LatestValues()
    private var lastLatestFlush = ContinuousClock.now

    /// Read by the batch-reading task: whether latest values wait for a flush.
    private let latestPending = Mutex(false)
    private let stored = Atomic<UInt64>(0)
    /// Notes on disk which batch is being normalized, so that a message that kills the process is
    /// quarantined after a few starts instead of killing every start.
    private let replayGuard: ReplayGuardFile
    /// Normalizes batches off the cooperative pool, below the priority of the alarm path.
    private let worker = ThreadExecutor(name: "cip-normalize", nice: 5)

    /// - Parameter pool: a pool reserved for the pipeline (one connection is enough).
    /// - Parameter catalogue: normalizes registered devices' messages; nil stores everything generically.
    public init(journal: Journal, pool: PostgresPool, configuration: Configuration = .init(), logger: Logger,
                catalogue: CatalogueNormalizer? = nil, directory: DeviceDirectory = DeviceDirectory(),
                observers: [any BatchObserver] = [],
                prepare: @escaping @Sendable (PostgresConnection) throws -> Void = { _ in }) {
        self.journal = journal
        self.prepare = prepare
        self.pool = pool
        self.configuration = configuration
        self.directory = directory
        self.observers = observers
        self.normalizer = Normalizer(limits: configuration.normalizer, catalogue: catalogue)
        self.logger = logger
        self.replayGuard = ReplayGuardFile(directory: journal.configuration.directory)
    }

    /// Whether the replay guard can keep its file (the crash-loop defence needs it).
    public var replayGuardIsWritable: Bool { replayGuard.isWritable }

    /// The journal sequence through which every message's rows are stored.
    public var storedThrough: UInt64 { stored.load(ordering: .acquiring) }

    public func run() async throws {
        let reader = ReaderBox(journal.reader(after: journal.committedSequence))
        stored.store(reader.reader.position, ordering: .releasing)
        logger.info("ingest pipeline started", metadata: ["from": "\(reader.reader.position + 1)"])
        // Migrations and partitions first, so that the API is ready without waiting for a message. While the
        // database is unreachable this keeps retrying, and the ingress keeps journaling.
        await prepareDatabase()
        await loadDirectory()
        var written = true
        // The read-ahead is one child task at a time: the next batch is read while this one is written. It
        // ends with `run`: awaited when its batch is written, cancelled and awaited when not.
        await withTaskGroup(of: PendingBatch?.self) { readAhead in
            readAhead.addTask { await self.nextBatch(reader, waitIfEmpty: true) }
            await withGracefulShutdownHandler {
                while !Task.isShuttingDownGracefully {
                    guard let batch = await readAhead.next() ?? nil else { break }
                    readAhead.addTask { await self.nextBatch(reader, waitIfEmpty: true) }
                    written = await self.commit(batch)
                    if !written { break }
                }
            } onGracefulShutdown: {
                self.journal.wakeReaders()
            }
            // Drain: whatever the journal holds now goes in before we return, latest values included. After a
            // batch that could not be written, nothing more is: the next start replays from the checkpoint.
            if written, let batch = await readAhead.next() ?? nil { written = await commit(batch) }
            readAhead.cancelAll()
        }
        while written, let batch = await nextBatch(reader, waitIfEmpty: false) {
            written = await commit(batch)
        }
        if written, !latest.isEmpty {
            var flush = IngestBatch()
            flush.lastSequence = reader.reader.position
            await commit(PendingBatch(batch: flush), forceLatest: true)
        }
        journal.sync()
        logger.info("ingest pipeline stopped", metadata: ["committed": "\(journal.committedSequence)"])
    }

    private func prepareDatabase() async {
        var delay = configuration.retryInitialDelay
        var attempt = 0
        while !prepared, !Task.isShuttingDownGracefully, !Task.isCancelled {
            attempt += 1
            do {
                try await pool.withConnection(prepare)
                prepared = true
            } catch {
                if attempt == 1 || attempt % 20 == 0 {
                    logger.error("database not ready; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.retryMaxDelay)
            }
        }
    }

    /// Reads and normalizes the next batch. Returns an empty batch when latest values are due for a flush and
    /// nothing new arrived; nil when there is nothing and we should not or cannot wait.
    private func nextBatch(_ box: ReaderBox, waitIfEmpty: Bool) async -> PendingBatch? {
        while true {
            let limit = replayGuard.limit(next: box.reader.position + 1, normal: configuration.maxBatchMessages)
            let records = box.reader.next(maxRecords: limit)
            if !records.isEmpty {
                var batch = IngestBatch()
                batch.observations.reserveCapacity(records.count * 3)
                var devices = directory.snapshot
                var outputs: [Normalizer.Output]
                if case .quarantine(let deaths) = replayGuard.begin(first: records[0].sequence,
                                                                   last: records[records.count - 1].sequence) {
                    // One record (the guard reads a suspect range one at a time): not normalized again.
                    logger.critical("quarantined a journal record that stopped the gateway while it was normalized",
                                    metadata: ["sequence": "\(records[0].sequence)", "deaths": "\(deaths)"])
                    replayGuard.poisoned(MessageKey.content(of: records[0]))
                    metrics.quarantined.increment()
                    outputs = [normalizer.quarantined(records[0], reason:
                        "quarantined: normalizing this message stopped the gateway \(deaths) times; it is kept here and not normalized again")]
                } else {
                    outputs = await worker.run { [self, devices] in
                        records.map { record in
                            // The same content as a message quarantined before (a replay, or the device sending it again).
                            if replayGuard.hasPoison, replayGuard.isPoison(MessageKey.content(of: record)) {
                                metrics.quarantined.increment()
                                return normalizer.quarantined(record, reason:
                                    "quarantined: the same message stopped the gateway before; it is kept here and not normalized")
                            }
                            return normalizer.normalize(record, devices: devices)
                        }
                    }
                    // Ids not in memory are looked up once before their messages stay quarantined (a registration
                    // counts at once); only those records are normalized again.
                    let unknown = Set(outputs.compactMap { $0.rawMessage.outcome == .quarantined ? $0.rawMessage.deviceID : nil })
                    if !unknown.isEmpty, await lookUp(unknown) {
                        devices = directory.snapshot
                        for index in outputs.indices where outputs[index].rawMessage.outcome == .quarantined {
                            outputs[index] = normalizer.normalize(records[index], devices: devices)
                        }
                    }
                    replayGuard.finished()
                }
                for output in outputs {
                    batch.observations.append(contentsOf: output.observations)
                    batch.deadLetters.append(contentsOf: output.deadLetters)
                    batch.events.append(contentsOf: output.events)
                    batch.rawMessages.append(output.rawMessage)
                }
                batch.unknownDevices = UnknownDeviceSighting.collect(batch.rawMessages)
                batch.lastSequence = records[records.count - 1].sequence
                metrics.received.increment(by: Int64(records.count))
                return PendingBatch(batch: batch, profiles: devices)
            }
            if !waitIfEmpty || Task.isShuttingDownGracefully || Task.isCancelled { return nil }
            let position = box.reader.position
            // Never waits longer than a flush interval: this read-ahead began while the batch before it was being
            // written, so the latest values that batch left pending may show only after the wait began.
            await journal.waitForRecords(after: position, timeout: configuration.latestFlushInterval)
            if journal.lastSequence <= position, latestPending.withLock({ $0 }), !Task.isShuttingDownGracefully {
                var flush = IngestBatch()
                flush.lastSequence = position
                return PendingBatch(batch: flush)
            }
            if Task.isShuttingDownGracefully, journal.lastSequence <= box.reader.position { return nil }
        }
    }

    /// Loads the registered devices at start. A failure leaves the directory as it is; the listener and the
    /// per-batch lookups fill it.
    private func loadDirectory() async {
        let directory = self.directory
        do {
            try await pool.withConnection { try directory.reload(from: $0) }
        } catch {
            logger.warning("could not load the device directory", metadata: ["error": "\(error)"])
        }
    }

    /// Looks up unknown device ids in the registry; true when some turned out registered. When the lookup fails,
    /// their messages stay quarantined: the raw messages are kept, so nothing is lost.
    private func lookUp(_ ids: Set<String>) async -> Bool {
        let directory = self.directory
        do {
            return try await pool.withConnection { try directory.lookUp(ids, from: $0) }
        } catch {
            logger.warning("could not look up unknown device ids", metadata: ["error": "\(error)", "ids": "\(ids.count)"])
            return false
        }
    }

    /// Writes one batch, retrying until it is committed. False only when shutting down with the batch unwritten:
    /// nothing after it may be committed then, or the checkpoint would pass it.
    ///
    /// A batch the database refuses for its data (not for an outage) is never retried as it is: its poison
    /// messages are found by halving (`PoisonIsolation`) and dead-lettered with the server's reason, and every
    /// other message is stored.
    @discardableResult
    private func commit(_ pending: PendingBatch, forceLatest: Bool = false) async -> Bool {
        var batch = pending.batch
        var poisoned = Set<[UInt8]>()
        var merged = latest
        merged.merge(batch.observations)
        var flushLatest = !merged.isEmpty && (forceLatest || batch.isEmpty || merged.count >= 50_000
            || ContinuousClock.now - lastLatestFlush >= configuration.latestFlushInterval)
        var delay = configuration.retryInitialDelay
        var attempt = 0
        var isolated = false
        while true {
            attempt += 1
            let started = DispatchTime.now().uptimeNanoseconds
            do {
                if !prepared {
                    try await pool.withConnection(prepare)
                    prepared = true
                }
                let store = self.store
                let latestRows = flushLatest ? merged.rows : []
                let inserted = try await pool.withConnection { [batch] in try store.write(batch, latest: latestRows, on: $0) }
                metrics.commitLatency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
                metrics.batchSize.record(batch.rawMessages.count)
                metrics.stored.increment(by: Int64(inserted))
                metrics.deadLettered.increment(by: Int64(batch.deadLetters.count))
                metrics.messagesCommitted.increment(by: Int64(batch.rawMessages.count))
                stored.store(batch.lastSequence, ordering: .releasing)
                if !observers.isEmpty { notifyObservers(pending, without: poisoned) }
                latest = merged
                if flushLatest {
                    latest.removeAll()
                    lastLatestFlush = .now
                }
                if latest.isEmpty {
                    journal.markCommitted(through: batch.lastSequence)
                }
                latestPending.withLock { $0 = !latest.isEmpty }
                metrics.backlog.record(Int64(journal.backlog))
                metrics.segments.record(journal.segmentCount)
                if attempt > 1 {
                    logger.info("database writes resumed", metadata: ["attempts": "\(attempt)"])
                }
                return true
            } catch let error as PostgresError where error.isDataError {
                metrics.writeFailures.increment()
                if batch.rawMessages.isEmpty || isolated {
                    if isolated {
                        // Even the dead letters of the poison were refused (cannot happen with storable topic and
                        // reason; the last resort so that nothing stops): say so loudly and go on.
                        logger.critical("dead letters of poison messages refused; they remain only in the journal", metadata: [
                            "error": "\(error)", "messages": "\(batch.rawMessages.count)", "through": "\(batch.lastSequence)"])
                        batch.rawMessages = []
                        batch.deadLetters = []
                        continue
                    }
                    // Only latest values (a cache of stored observations) were being written: give them up
                    // rather than stop; the next observation of each quantity writes it again.
                    logger.error("latest values refused by the database; dropped", metadata: ["error": "\(error)", "rows": "\(merged.count)"])
                    merged.removeAll()
                    flushLatest = false
                    continue
                }
                // The data is refused: find the poison, store everything else (committed here), then go on with
                // what is left, which is the poison messages as dead letters.
                guard let (clean, refused) = await isolatePoison(batch, refusedWith: error) else { return false }
                batch = clean
                poisoned = refused
                isolated = true
                merged = latest
                merged.merge(pending.batch.observations.filter { !poisoned.contains($0.messageKey) })
                flushLatest = false
            } catch {
                // Cancelled, or shutting down while the database refuses: stop; the journal still holds the batch,
                // and the next start writes it.
                if Task.isCancelled || (Task.isShuttingDownGracefully && attempt >= 3) {
                    logger.error("stopping with the batch unwritten; it stays in the journal", metadata: ["error": "\(error)"])
                    return false
                }
                metrics.writeFailures.increment()
                metrics.backlog.record(Int64(journal.backlog))
                if attempt == 1 || attempt % 20 == 0 {
                    logger.error("batch write failed; retrying", metadata: [
                        "error": "\(error)", "attempt": "\(attempt)", "backlog": "\(journal.backlog)",
                    ])
                }
                if let error = error as? PostgresError, !error.isTransient {
                    // A statement the server refuses for another reason will be refused again: this is a bug,
                    // not an outage. Keep retrying slowly rather than drop accepted data; the log says why.
                    delay = configuration.retryMaxDelay
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.retryMaxDelay)
            }
        }
    }

    /// Tells the observers what the batch stored: its rows without those of poison messages.
    private func notifyObservers(_ pending: PendingBatch, without poisoned: Set<[UInt8]>) {
        var committed = CommittedBatch(observations: pending.batch.observations, events: pending.batch.events,
                                       rawMessages: pending.batch.rawMessages, profiles: pending.profiles)
        if !poisoned.isEmpty {
            committed.observations.removeAll { poisoned.contains($0.messageKey) }
            committed.events.removeAll { poisoned.contains($0.messageKey) }
            committed.rawMessages.removeAll { poisoned.contains($0.messageKey) }
        }
        for observer in observers { observer.committed(committed) }
    }

    /// Writes the good messages of a batch that was refused for its data, message group by message group as
    /// `PoisonIsolation` says, retrying outages like `commit`. Returns what is left to write: the poison
    /// messages as rejected raw messages with dead letters (empty rows otherwise); nil when shutting down.
    private func isolatePoison(_ batch: IngestBatch, refusedWith error: PostgresError) async -> (IngestBatch, Set<[UInt8]>)? {
        let keys = batch.messageKeys
        var isolation = PoisonIsolation(messages: keys.count, refusedWith: error.description)
        var writes = 0
        var delay = configuration.retryInitialDelay
        while case .write(let group) = isolation.next {
            let subset = batch.only(Set(group.map { keys[$0] }))
            do {
                let store = self.store
                let inserted = try await pool.withConnection { try store.write(subset, latest: [], on: $0) }
                writes += 1
                metrics.stored.increment(by: Int64(inserted))
                metrics.messagesCommitted.increment(by: Int64(subset.rawMessages.count))
                metrics.deadLettered.increment(by: Int64(subset.deadLetters.count))
                isolation.committed()
                delay = configuration.retryInitialDelay
            } catch let refusal as PostgresError where refusal.isDataError {
                writes += 1
                isolation.refused(refusal.description)
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return nil }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.retryMaxDelay)
            }
        }
        var clean = IngestBatch()
        clean.lastSequence = batch.lastSequence
        var poisoned = Set<[UInt8]>()
        for (index, reason) in isolation.poisoned.sorted(by: { $0.key < $1.key }) {
            let replacement = batch.poisonReplacement(for: keys[index], reason: reason)
            clean.rawMessages += replacement.rawMessages
            clean.deadLetters += replacement.deadLetters
            poisoned.insert(keys[index])
        }
        metrics.poisoned.increment(by: Int64(isolation.poisoned.count))
        logger.error("database refused messages of a batch; dead-lettered them and stored the rest", metadata: [
            "poisoned": "\(isolation.poisoned.count)", "messages": "\(keys.count)", "writes": "\(writes)",
            "error": "\(error)",
        ])
        return (clean, poisoned)
    }
}

/// A normalized batch, with the registry profiles it was normalized with.
struct PendingBatch: Sendable {
    var batch: IngestBatch
    var profiles: [String: DeviceProfile] = [:]
}

/// The reader is used by one task at a time (the pipeline hands it from one batch task to the next).
private final class ReaderBox: @unchecked Sendable {
    let reader: JournalReader
    init(_ reader: JournalReader) { self.reader = reader }
}
