import Models

/// One daily partition of `observations` or `raw_messages` (`<table>_pYYYYMMDD`, the UTC day it holds).
public struct DailyPartition: Sendable, Hashable {
    public var table: String
    public var name: String
    /// The first second of its UTC day, in seconds since 1970.
    public var dayStart: Int64
    /// Rows ever inserted into it (the statistics' count): a purged day that grew since is purged again.
    public var insertedRows: Int64

    public init(table: String, name: String, dayStart: Int64, insertedRows: Int64 = 0) {
        self.table = table
        self.name = name
        self.dayStart = dayStart
        self.insertedRows = insertedRows
    }

    /// The partition of `table` named `name`, or nil when the name is not `<table>_pYYYYMMDD` with a real date.
    public init?(table: String, name: String, insertedRows: Int64 = 0) {
        let prefix = table + "_p"
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard digits.count == 8, digits.allSatisfy(\.isASCII), let value = Int(digits), value > 0 else { return nil }
        let year = value / 10_000, month = value / 100 % 100, day = value % 100
        guard let start = RetentionCalendar.dayStart(year: year, month: month, day: day) else { return nil }
        self.init(table: table, name: name, dayStart: start, insertedRows: insertedRows)
    }

    public var dayEnd: Int64 { dayStart + RetentionCalendar.secondsPerDay }
}

/// A partition purged of one retention group, as it was when the purge began.
public struct PurgedPartition: Sendable, Hashable {
    public var partition: String
    public var retentionDays: Int
    public var quantities: [String]
    public var insertedRows: Int64

    public init(partition: String, retentionDays: Int, quantities: [String], insertedRows: Int64) {
        self.partition = partition
        self.retentionDays = retentionDays
        self.quantities = quantities
        self.insertedRows = insertedRows
    }

    /// `partition` purged of one retention group, as it is now.
    public init(_ partition: DailyPartition, retentionDays: Int, quantities: [String]) {
        self.init(partition: partition.name, retentionDays: retentionDays, quantities: quantities, insertedRows: partition.insertedRows)
    }
}

/// Which quantities a purge of values touches: the listed ones, or every one not listed (values of quantities the
/// catalogue no longer knows expire with the longest retention it has).
public enum QuantitySelection: Sendable, Hashable {
    case these([String])
    case allBut([String])
}

/// One thing a retention run deletes. Times are seconds since 1970: rows strictly before are expired.
public enum RetentionTask: Sendable, Hashable {
    /// A whole day of `observations` or `raw_messages` in which every row is expired.
    case dropPartition(DailyPartition)
    /// The values of one retention group in one day of observations (the day is expired for them, not for all).
    case purgePartition(DailyPartition, retentionDays: Int, quantities: [String])
    /// Values outside the day partitions (`observations_default`) or latest values.
    case purgeValues(table: ValueTable, selection: QuantitySelection, expiredBefore: Int64)
    /// Raw messages outside the day partitions.
    case purgeRawMessagesDefault(expiredBefore: Int64)
    case purgeDeadLetters(expiredBefore: Int64)
    case purgeEvents(expiredBefore: Int64)
    /// Geofence states (they hold the last positions) of devices silent for longer than positions are kept.
    case purgeGeofenceStates(expiredBefore: Int64)
    // The append-only records go through the database's purge functions, which take days (never fewer than the
    // owner's floors) and reckon them on the database's clock.
    case purgeAlarms(retentionDays: Int)
    case purgeDeviceHistory(retentionDays: Int)
    /// Closed links of devices to care recipients, once the data they explain has gone.
    case purgeCareRecipientLinks(retentionDays: Int)
    case purgeAudit(retentionDays: Int)

    /// The table the deleted rows are counted under (`cip_retention_deleted_total{table}`).
    public var table: String {
        switch self {
        case .dropPartition(let partition): partition.table
        case .purgePartition: "observations"
        case .purgeValues(let table, _, _): table == .latestObservations ? "latest_observations" : "observations"
        case .purgeRawMessagesDefault: "raw_messages"
        case .purgeDeadLetters: "dead_letters"
        case .purgeEvents: "events"
        case .purgeGeofenceStates: "geofence_state"
        case .purgeAlarms: "alarms"
        case .purgeDeviceHistory: "device_history"
        case .purgeCareRecipientLinks: "care_recipient_links"
        case .purgeAudit: "audit_log"
        }
    }
}

public enum ValueTable: String, Sendable, Hashable {
    case observationsDefault = "observations_default"
    case latestObservations = "latest_observations"
}

/// What a retention run must delete, decided from the catalogue's retention per quantity, the settings and what
/// the database holds. Pure: the service executes the tasks in order.
public struct RetentionPlan: Sendable {
    /// Quantities grouped by retention, shortest first.
    public let groups: [(days: Int, quantities: [String])]
    public let settings: RetentionSettings
    /// The longest retention of any quantity: a day older than this holds nothing that may be kept.
    public let longestDays: Int

    /// How long positions are kept (the geofence states hold the last ones).
    public let positionDays: Int

    public init(quantityRetention: [String: Int], settings: RetentionSettings) {
        var byDays: [Int: [String]] = [:]
        for (quantity, days) in quantityRetention { byDays[days, default: []].append(quantity) }
        groups = byDays.keys.sorted().map { ($0, byDays[$0]!.sorted()) }
        longestDays = groups.last?.days ?? settings.careRecordDays
        positionDays = ["latitude", "longitude", "position"].compactMap { quantityRetention[$0] }.min() ?? groups.first?.days ?? 30
        self.settings = settings
    }

    public init(catalogue: Catalogue, settings: RetentionSettings) {
        self.init(quantityRetention: Dictionary(catalogue.quantities.map { ($0.id, $0.classification.retentionDays) },
                                                uniquingKeysWith: { first, _ in first }),
                  settings: settings)
    }

    public var allQuantities: [String] { groups.flatMap(\.quantities).sorted() }

    /// The tasks of a run at `now` (seconds since 1970), oldest data first within each kind.
    public func tasks(now: Int64, partitions: [DailyPartition], purged: Set<PurgedPartition>) -> [RetentionTask] {
        func before(_ days: Int) -> Int64 { now - Int64(days) * RetentionCalendar.secondsPerDay }
        var tasks: [RetentionTask] = []
        let sorted = partitions.sorted { ($0.dayStart, $0.name) < ($1.dayStart, $1.name) }
        for partition in sorted {
            let expiredBefore = partition.table == "raw_messages" ? before(settings.rawMessageDays) : before(longestDays)
            if partition.dayEnd <= expiredBefore {
                tasks.append(.dropPartition(partition))
                continue
            }
            guard partition.table == "observations" else { continue }
            for group in groups where group.days < longestDays && partition.dayEnd <= before(group.days) {
                if !purged.contains(PurgedPartition(partition, retentionDays: group.days, quantities: group.quantities)) {
                    tasks.append(.purgePartition(partition, retentionDays: group.days, quantities: group.quantities))
                }
            }
        }
        for table in [ValueTable.observationsDefault, .latestObservations] {
            for group in groups {
                tasks.append(.purgeValues(table: table, selection: .these(group.quantities), expiredBefore: before(group.days)))
            }
            tasks.append(.purgeValues(table: table, selection: .allBut(allQuantities), expiredBefore: before(longestDays)))
        }
        tasks.append(.purgeRawMessagesDefault(expiredBefore: before(settings.rawMessageDays)))
        tasks.append(.purgeDeadLetters(expiredBefore: before(settings.deadLetterDays)))
        tasks.append(.purgeEvents(expiredBefore: before(settings.careRecordDays)))
        tasks.append(.purgeGeofenceStates(expiredBefore: before(positionDays)))
        tasks.append(.purgeAlarms(retentionDays: settings.careRecordDays))
        tasks.append(.purgeDeviceHistory(retentionDays: settings.careRecordDays))
        // A link explains data for as long as any of it may be kept: the longer of the care records and the values.
        tasks.append(.purgeCareRecipientLinks(retentionDays: max(settings.careRecordDays, longestDays)))
        tasks.append(.purgeAudit(retentionDays: settings.auditDays))
        return tasks
    }
}

/// Proleptic Gregorian UTC days, without Foundation's calendar (called for every partition name).
public enum RetentionCalendar {
    public static let secondsPerDay: Int64 = 86_400

    /// The first second of a UTC date, or nil when it is not a date.
    public static func dayStart(year: Int, month: Int, day: Int) -> Int64? {
        guard (1970...9999).contains(year), (1...12).contains(month), day >= 1 else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[month - 1] else { return nil }
        // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146_097 + doe - 719_468) * secondsPerDay
    }
}
