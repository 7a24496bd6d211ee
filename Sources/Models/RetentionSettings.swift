/// How long the gateway keeps what is not a catalogue value (those carry their own `retentionDays`).
public struct RetentionSettings: Sendable, Codable, Equatable {
    /// Raw messages and dead letters: they carry every value of a payload, whatever its class, so they are kept
    /// no longer than the shortest retention of what they may contain (and usually much shorter: troubleshooting).
    public var rawMessageDays: Int
    public var deadLetterDays: Int
    /// Events, closed alarms with their timelines, and the device history that explains them: the care record.
    public var careRecordDays: Int
    /// Who read what.
    public var auditDays: Int

    public init(rawMessageDays: Int = 7, deadLetterDays: Int = 7, careRecordDays: Int = 1_826, auditDays: Int = 1_826) {
        self.rawMessageDays = rawMessageDays
        self.deadLetterDays = deadLetterDays
        self.careRecordDays = careRecordDays
        self.auditDays = auditDays
    }

    /// The floors the database's purge functions enforce whatever is configured.
    public static let minimumCareRecordDays = 30
    public static let minimumAuditDays = 365

    /// Why these settings cannot be used, or nil.
    public func problem(shortestCatalogueRetentionDays: Int) -> String? {
        if rawMessageDays < 1 || deadLetterDays < 1 {
            return "raw messages and dead letters are kept at least a day"
        }
        if rawMessageDays > shortestCatalogueRetentionDays || deadLetterDays > shortestCatalogueRetentionDays {
            return "raw messages and dead letters carry values of every class: keep them at most \(shortestCatalogueRetentionDays) days, the shortest retention of the catalogue"
        }
        if careRecordDays < Self.minimumCareRecordDays { return "care records are kept at least \(Self.minimumCareRecordDays) days" }
        if auditDays < Self.minimumAuditDays { return "the audit trail is kept at least \(Self.minimumAuditDays) days" }
        return nil
    }
}

/// Retention as `/readyz` reports it: the last run and whether one is running.
public struct RetentionReport: Sendable, Codable, Equatable {
    public var running: Bool
    /// Another gateway held the purge lease at the last attempt (it purges; this one waits).
    public var heldByAnotherGateway: Bool
    public var lastRunStartedAt: String?
    public var lastRunFinishedAt: String?
    /// Rows deleted by the last run, per table.
    public var lastRunDeleted: [String: Int64]
    public var lastRunError: String?

    public init(running: Bool, heldByAnotherGateway: Bool, lastRunStartedAt: String?, lastRunFinishedAt: String?,
                lastRunDeleted: [String: Int64], lastRunError: String?) {
        self.running = running
        self.heldByAnotherGateway = heldByAnotherGateway
        self.lastRunStartedAt = lastRunStartedAt
        self.lastRunFinishedAt = lastRunFinishedAt
        self.lastRunDeleted = lastRunDeleted
        self.lastRunError = lastRunError
    }
}
