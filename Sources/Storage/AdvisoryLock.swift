/// Transaction-level advisory locks that make ids commit in the order they were taken. A table read by id as a
/// stream (`events` by the alarm engine, `alarm_changes` by the live stream) must never show id 7 before a
/// slower transaction commits id 6: every writer takes the table's lock before its first insert.
public enum AdvisoryLock {
    public static let events: Int64 = 7_201
    public static let alarmChanges: Int64 = 7_202
    /// One NGSI-LD matcher at a time, whatever the number of gateways: notifications are made in the order of the
    /// changes they carry (taken with `pg_try_advisory_xact_lock`: a second matcher skips its round).
    public static let notificationMatcher: Int64 = 7_203

    public static func statement(_ key: Int64) -> String { "SELECT pg_advisory_xact_lock(\(key))" }
}
