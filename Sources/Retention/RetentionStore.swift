import Models

/// How much one step of a task may do: steps are small so that a purge never holds locks or I/O for long.
public struct RetentionLimits: Sendable, Equatable {
    /// Heap blocks of a day partition scanned per statement (8 KiB each).
    public var blocksPerStep: Int
    /// Rows deleted per statement elsewhere.
    public var rowsPerStep: Int

    public init(blocksPerStep: Int = 256, rowsPerStep: Int = 5_000) {
        self.blocksPerStep = blocksPerStep
        self.rowsPerStep = rowsPerStep
    }
}

/// What one step did: rows deleted, and where the next step starts (nil: the task is done).
public struct RetentionStep: Sendable, Equatable {
    public var deleted: Int64
    public var next: Int64?

    public init(deleted: Int64, next: Int64?) {
        self.deleted = deleted
        self.next = next
    }
}

/// One finished (or failed) run, as `/readyz` and the next gateway see it.
public struct RetentionRun: Sendable, Equatable, Codable {
    public var startedAtMicros: Int64
    public var finishedAtMicros: Int64
    /// Rows deleted per table.
    public var deleted: [String: Int64]
    public var error: String?

    public init(startedAtMicros: Int64, finishedAtMicros: Int64, deleted: [String: Int64], error: String? = nil) {
        self.startedAtMicros = startedAtMicros
        self.finishedAtMicros = finishedAtMicros
        self.deleted = deleted
        self.error = error
    }
}

/// Where retention deletes: the database, or an in-memory stand-in in tests.
public protocol RetentionStore: Sendable {
    /// Takes or renews the one purge lease for `seconds`; false while another gateway holds it.
    func acquireLease(holder: String, seconds: Int) async throws -> Bool
    func releaseLease(holder: String) async throws
    /// The day partitions of `observations` and `raw_messages`, with their insert counts.
    func partitions() async throws -> [DailyPartition]
    func purgedPartitions() async throws -> Set<PurgedPartition>
    /// One bounded step of `task` from `cursor` (0 at first).
    func step(_ task: RetentionTask, cursor: Int64, limits: RetentionLimits) async throws -> RetentionStep
    /// Notes that a purge of a partition (begun when it held `key.insertedRows`) finished.
    func markPurged(_ key: PurgedPartition, rowsDeleted: Int64) async throws
    func record(_ run: RetentionRun) async throws
    func lastRun() async throws -> RetentionRun?
}
