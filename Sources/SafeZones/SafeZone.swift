import Foundation
import Synchronization
import Geofence
import Models

/// A safe zone of one GPS alarm: where the wearer is expected to be (home, the care home's garden), when (its
/// weekly windows in the city's time; none: always), and how strictly leaving it is judged (the geofence tuning).
public struct SafeZone: Sendable, Equatable {
    public var id: Int64
    public var deviceId: String
    public var name: String
    public var shape: ZoneShape
    /// Weekly windows in `Europe/Stockholm`; empty: always in force.
    public var schedule: [WeeklyWindow]
    public var tuning: ZoneTuning
    public var createdBy: String
    public var createdAtMicros: Int64
    public var updatedAtMicros: Int64

    public init(id: Int64, deviceId: String, name: String, shape: ZoneShape, schedule: [WeeklyWindow], tuning: ZoneTuning,
                createdBy: String, createdAtMicros: Int64, updatedAtMicros: Int64) {
        self.id = id
        self.deviceId = deviceId
        self.name = name
        self.shape = shape
        self.schedule = schedule
        self.tuning = tuning
        self.createdBy = createdBy
        self.createdAtMicros = createdAtMicros
        self.updatedAtMicros = updatedAtMicros
    }

    /// The zone as the geofence evaluates it.
    public var zone: Zone { Zone(id: id, name: name, shape: shape, tuning: tuning) }
}

/// A zone as a client asks for it (create, or the whole of an update).
public struct ZoneSpec: Sendable, Equatable {
    public var name: String
    public var shape: ZoneShape
    public var schedule: [WeeklyWindow]
    public var tuning: ZoneTuning

    public init(name: String, shape: ZoneShape, schedule: [WeeklyWindow], tuning: ZoneTuning) {
        self.name = name
        self.shape = shape
        self.schedule = schedule
        self.tuning = tuning
    }
}

/// Safe zones (table `safe_zones`) and the geofence state of each device (table `geofence_state`).
public protocol ZoneRepository: Sendable {
    func create(_ spec: ZoneSpec, deviceId: String, by: String) async throws -> SafeZone
    func zones(deviceId: String) async throws -> [SafeZone]
    /// Replaces a zone's spec; nil when the device has no such zone.
    func update(_ id: Int64, deviceId: String, to spec: ZoneSpec) async throws -> SafeZone?
    func delete(_ id: Int64, deviceId: String) async throws -> Bool
    /// Every zone, by device: what the geofence monitor evaluates.
    func allZones() async throws -> [String: [SafeZone]]
    /// Changes whenever a zone is created, changed or deleted: the monitor reads every zone again only then.
    func zonesVersion() async throws -> String
    func states() async throws -> [String: DeviceGeofence]
    func saveStates(_ states: [String: DeviceGeofence]) async throws
}

/// Zones in memory, for router tests.
public actor InMemoryZoneRepository: ZoneRepository {
    private var stored: [Int64: SafeZone] = [:]
    private var geofences: [String: DeviceGeofence] = [:]
    private var nextId: Int64 = 1

    public init() {}

    public func create(_ spec: ZoneSpec, deviceId: String, by: String) -> SafeZone {
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        let zone = SafeZone(id: nextId, deviceId: deviceId, name: spec.name, shape: spec.shape, schedule: spec.schedule,
                            tuning: spec.tuning, createdBy: by, createdAtMicros: now, updatedAtMicros: now)
        stored[nextId] = zone
        nextId += 1
        return zone
    }

    public func zones(deviceId: String) -> [SafeZone] {
        stored.values.filter { $0.deviceId == deviceId }.sorted { $0.id < $1.id }
    }

    public func update(_ id: Int64, deviceId: String, to spec: ZoneSpec) -> SafeZone? {
        guard var zone = stored[id], zone.deviceId == deviceId else { return nil }
        zone.name = spec.name
        zone.shape = spec.shape
        zone.schedule = spec.schedule
        zone.tuning = spec.tuning
        zone.updatedAtMicros = Int64(Date().timeIntervalSince1970 * 1e6)
        stored[id] = zone
        return zone
    }

    public func delete(_ id: Int64, deviceId: String) -> Bool {
        guard stored[id]?.deviceId == deviceId else { return false }
        stored[id] = nil
        return true
    }

    public func allZones() -> [String: [SafeZone]] {
        Dictionary(grouping: stored.values.sorted { $0.id < $1.id }, by: \.deviceId)
    }

    public func zonesVersion() -> String {
        "\(stored.count)/\(stored.keys.max() ?? 0)/\(stored.values.map(\.updatedAtMicros).max() ?? 0)"
    }

    public func states() -> [String: DeviceGeofence] { geofences }

    public func saveStates(_ states: [String: DeviceGeofence]) {
        geofences.merge(states) { _, new in new }
    }
}

/// When each zone is in force: its weekly windows on the city's calendar (none: always). Calendar arithmetic is
/// slow next to the geometry, so each zone's answer is kept until the next instant at which it can change (a window
/// edge or local midnight): one evaluation per position stays microseconds.
public final class ZoneSchedules: ZoneCalendar, Sendable {
    let windows: [Int64: [WeeklyWindow]]
    let calendar: WeeklyCalendar

    /// A zone's answer for `from ..< until`.
    struct Known {
        var from: Int64
        var until: Int64
        var active: Bool
        var since: Int64?
    }
    private let known = Mutex<[Int64: Known]>([:])

    public init(_ zones: [SafeZone], calendar: WeeklyCalendar = WeeklyCalendar()) {
        windows = Dictionary(zones.map { ($0.id, $0.schedule) }, uniquingKeysWith: { first, _ in first })
        self.calendar = calendar
    }

    public func isActive(_ zoneId: Int64, atMicros: Int64) -> Bool {
        answer(zoneId, atMicros)?.active ?? true
    }

    public func activeSince(_ zoneId: Int64, atMicros: Int64) -> Int64? {
        answer(zoneId, atMicros)?.since
    }

    /// nil for a zone without a schedule (always in force).
    private func answer(_ zoneId: Int64, _ atMicros: Int64) -> Known? {
        guard let schedule = windows[zoneId], !schedule.isEmpty else { return nil }
        if let cached = known.withLock({ $0[zoneId] }), cached.from <= atMicros, atMicros < cached.until { return cached }
        let date = Date(timeIntervalSince1970: Double(atMicros) / 1e6)
        // The start of the continuous period in force: windows that overlap or follow each other ("22:00–07:00"
        // and "07:00–12:00") are one period, so the second is no new start (which would raise an exit at once).
        var start = schedule.compactMap { calendar.start(of: $0, covering: date) }.min()
        for _ in 0..<14 {
            guard let current = start,
                  let earlier = schedule.compactMap({ calendar.start(of: $0, covering: current.addingTimeInterval(-0.001)) }).min(),
                  earlier < current else { break }
            start = earlier
        }
        let since = start.map(Self.micros)
        let edges = schedule.flatMap { calendar.edges(of: $0, around: date) }.map(Self.micros)
        let from = edges.filter { $0 <= atMicros }.max() ?? atMicros
        let until = edges.filter { $0 > atMicros }.min() ?? atMicros + 1
        let answer = Known(from: from, until: until, active: since != nil, since: since)
        known.withLock { $0[zoneId] = answer }
        return answer
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1e6).rounded()) }
}
