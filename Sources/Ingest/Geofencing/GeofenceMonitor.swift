import Digest
import Foundation
import Geofence
import Logging
import Metrics
import Models
import Postgres
import SafeZones
import ServiceLifecycle
import Storage
import Synchronization
import Telemetry

/// Safe zones evaluated on ingest: told about every committed batch (a `BatchObserver`; it only hands the positions
/// on, never blocks the pipeline), it runs each position of a device with zones through the device's geofence in
/// memory (no database round trip per position) and, as a `Service`, stores what that concludes: a `geofence_exit`
/// event (the alarm engine raises the catalogue's alarm, carrying the position) or a `geofence_return` (noted on
/// that alarm's timeline), and the devices' geofence state, so that a restart neither forgets an excursion nor
/// raises it twice. A timer confirms dwell times and schedule starts when no position comes.
public final class GeofenceMonitor: BatchObserver, Service, Sendable {
    public struct Configuration: Sendable {
        /// How often dwell and schedule starts are checked, conclusions stored, and zones read again.
        public var tick: Duration = .seconds(2)
        /// How often the states of devices without a new conclusion are stored (a device with one is stored at once).
        /// Writing every moving device's state each tick would compete with ingest for the database; what a crash
        /// loses in between is at most this much of a run toward confirmation, never a conclusion.
        public var saveInterval: Duration = .seconds(30)
        public init() {}
    }

    enum Input: Sendable {
        case positions([Observation])
        case tick
    }

    let zones: any ZoneRepository
    let pool: PostgresPool
    let configuration: Configuration
    let clock: @Sendable () -> Int64
    let logger: Logger
    private let input: AsyncStream<Input>
    private let inputContinuation: AsyncStream<Input>.Continuation
    /// Devices with zones: the observer hands on only their positions.
    private let watched = Mutex<Set<String>>([])
    let exits = Counter(label: "cip_geofence_exits_total")
    let returns = Counter(label: "cip_geofence_returns_total")
    public static let sourcePath = "geofence"
    /// How far ahead of its arrival a position may be dated and still count.
    static let maxAheadMicros: Int64 = 300_000_000

    public init(zones: any ZoneRepository, pool: PostgresPool, configuration: Configuration = .init(),
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1e6) }, logger: Logger) {
        self.zones = zones
        self.pool = pool
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        (input, inputContinuation) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
    }

    // MARK: BatchObserver

    public func committed(_ batch: CommittedBatch) {
        // On the pipeline's task: only pick the positions of watched devices; they are read on the monitor's.
        let watched = self.watched.withLock { $0 }
        guard !watched.isEmpty else { return }
        let positions = batch.observations.filter { $0.quantity == "position" && watched.contains($0.deviceID) }
        if !positions.isEmpty { inputContinuation.yield(.positions(positions)) }
    }

    /// The fixes of stored positions. A position dated well after it arrived is a device clock gone wrong: believed,
    /// it would hide every real position after it (older fixes are ignored) for as long as it is ahead.
    static func fixes(_ positions: [Observation]) -> [(deviceId: String, fix: Fix)] {
        positions.compactMap { observation in
            guard observation.observedAtMicros <= observation.receivedAtMicros.saturatingAdd(maxAheadMicros),
                  case .string(let text) = observation.value, let fix = fix(text, atMicros: observation.observedAtMicros)
            else { return nil }
            return (observation.deviceID, fix)
        }
    }

    /// A stored position, "lat,lon[,accuracy]".
    static func fix(_ text: String, atMicros: Int64) -> Fix? {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count >= 2, let latitude = parts[0], let longitude = parts[1], latitude.isFinite, longitude.isFinite,
              // 0,0 ("null island") is what many trackers send without a fix, never where a person in Sweden is.
              !(latitude == 0 && longitude == 0) else { return nil }
        let accuracy = parts.count >= 3 ? parts[2].flatMap { $0.isFinite ? $0 : nil } : nil
        return Fix(atMicros: atMicros, point: GeoPoint(latitude: latitude, longitude: longitude), accuracyMeters: accuracy)
    }

    // MARK: Service

    /// What the service holds between rounds.
    struct Memory {
        var zonesByDevice: [String: [SafeZone]] = [:]
        var zonesVersion: String?
        /// The same zones prepared once for evaluation (projection, buffer), with their schedules.
        var prepared: [String: (zones: [PreparedZone], schedules: ZoneSchedules)] = [:]
        var geofences: [String: DeviceGeofence] = [:]
        var dirty: Set<String> = []
        /// Conclusions not stored yet (the database was away): kept and tried again, never dropped.
        var pending: [(deviceId: String, action: GeofenceAction)] = []
        /// Devices with a conclusion since their state was last stored: stored with the next tick.
        var urgent: Set<String> = []
        var lastSave = ContinuousClock.now
        var loaded = false
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            try await withThrowingTaskGroup(of: Void.self) { group in
                var memory = Memory()
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: self.configuration.tick)
                        self.inputContinuation.yield(.tick)
                    }
                }
                await self.reload(&memory)
                for await item in self.input {
                    if Task.isCancelled { break }
                    switch item {
                    case .positions(let positions):
                        self.evaluate(Self.fixes(positions), &memory)
                    case .tick:
                        await self.reload(&memory)
                        self.tickAll(&memory)
                        await self.store(&memory)
                    }
                }
                group.cancelAll()
                await self.store(&memory, force: true)
            }
        }
    }

    /// Zones (every tick, so an edit takes effect within seconds) and, the first time, the stored states.
    func reload(_ memory: inout Memory) async {
        do {
            // Reading and decoding every zone each tick would compete with ingest: only when they changed.
            let version = try await zones.zonesVersion()
            if version != memory.zonesVersion {
                let all = try await zones.allZones()
                memory.zonesByDevice = all
                memory.prepared = all.mapValues { ($0.map { PreparedZone($0.zone) }, ZoneSchedules($0)) }
                memory.zonesVersion = version
            }
            watched.withLock { $0 = Set(memory.zonesByDevice.keys) }
            if !memory.loaded {
                memory.geofences = try await zones.states()
                memory.loaded = true
            }
        } catch {
            logger.warning("safe zones could not be read; will retry", metadata: ["error": "\(error)"])
        }
    }

    func evaluate(_ fixes: [(deviceId: String, fix: Fix)], _ memory: inout Memory) {
        for (deviceId, fix) in fixes.sorted(by: { $0.fix.atMicros < $1.fix.atMicros }) {
            guard let prepared = memory.prepared[deviceId], !prepared.zones.isEmpty else { continue }
            var geofence = memory.geofences[deviceId] ?? DeviceGeofence()
            let actions = geofence.apply(fix, zones: prepared.zones, calendar: prepared.schedules)
            memory.geofences[deviceId] = geofence
            memory.dirty.insert(deviceId)
            if !actions.isEmpty { memory.urgent.insert(deviceId) }
            memory.pending += actions.map { (deviceId, $0) }
        }
    }

    func tickAll(_ memory: inout Memory) {
        let now = clock()
        for (deviceId, prepared) in memory.prepared {
            guard var geofence = memory.geofences[deviceId] else { continue }
            let actions = geofence.tick(nowMicros: now, zones: prepared.zones, calendar: prepared.schedules)
            if geofence != memory.geofences[deviceId] {
                memory.geofences[deviceId] = geofence
                memory.dirty.insert(deviceId)
            }
            if !actions.isEmpty { memory.urgent.insert(deviceId) }
            memory.pending += actions.map { (deviceId, $0) }
        }
    }

    /// Stores the conclusions (one transaction) and then the changed states. A failure keeps both for the next tick.
    func store(_ memory: inout Memory, force: Bool = false) async {
        let pending = memory.pending
        let names = memory.zonesByDevice.values.flatMap { $0 }.reduce(into: [Int64: String]()) { $0[$1.id] = $1.name }
        if !pending.isEmpty {
            // The states of the devices concluded about go in the same transaction as the conclusions.
            let concluded = Set(pending.map(\.deviceId)).reduce(into: [String: DeviceGeofence]()) { $0[$1] = memory.geofences[$1] }
            do {
                try await pool.withConnection { connection in
                    try connection.transaction { connection in
                        try PostgresZoneRepository.saveStates(concluded, on: connection)
                        for (deviceId, action) in pending {
                            let event = Self.event(deviceId: deviceId, action: action, zoneName: names)
                            try IngestStore.insertDerivedEvent(
                                deviceId: deviceId, event: event.name, observedMicros: event.atMicros, attributesJSON: event.attributes,
                                confidentiality: 3, messageKey: event.key, sourcePath: Self.sourcePath, on: connection)
                        }
                    }
                }
                for (_, action) in pending {
                    if case .exit = action { exits.increment() } else { returns.increment() }
                }
                memory.pending.removeAll()
                memory.dirty.subtract(concluded.keys)
                memory.urgent.subtract(concluded.keys)
            } catch {
                logger.warning("geofence conclusions could not be stored; kept and tried again", metadata: [
                    "pending": "\(pending.count)", "error": "\(error)"])
                return
            }
        }
        guard !memory.dirty.isEmpty else { return }
        let all = force || ContinuousClock.now - memory.lastSave >= configuration.saveInterval
        let due = all ? memory.dirty : memory.dirty.intersection(memory.urgent)
        guard !due.isEmpty else { return }
        let changed = due.reduce(into: [String: DeviceGeofence]()) { $0[$1] = memory.geofences[$1] }
        do {
            try await zones.saveStates(changed)
            memory.dirty.subtract(due)
            memory.urgent.subtract(due)
            if all { memory.lastSave = ContinuousClock.now }
        } catch {
            logger.warning("geofence states could not be stored; will retry", metadata: ["error": "\(error)"])
        }
    }

    /// The event an action becomes: its name, time, attributes (where, how exactly, how old the position, which
    /// zone) and a key that makes a replay of the same conclusion store nothing.
    static func event(deviceId: String, action: GeofenceAction, zoneName: [Int64: String])
        -> (name: String, atMicros: Int64, attributes: String, key: [UInt8]) {
        let (name, zoneId, fix, atMicros, distance): (String, Int64, Fix, Int64, Double?) = switch action {
        case .exit(let zoneId, let fix, let distance, let at): ("geofence_exit", zoneId, fix, at, distance)
        case .returned(let zoneId, let fix, let at): ("geofence_return", zoneId, fix, at, nil)
        }
        var attributes: [String: String] = [
            "zoneId": String(zoneId), "latitude": String(format: "%.6f", fix.point.latitude),
            "longitude": String(format: "%.6f", fix.point.longitude),
            "positionAt": RFC3339.format(micros: fix.atMicros, fractionDigits: 0),
            "positionAgeSeconds": String(max(0, atMicros.saturatingSubtract(fix.atMicros) / 1_000_000)),
        ]
        attributes["zoneName"] = zoneName[zoneId]
        attributes["accuracy"] = fix.accuracyMeters.map { String(format: "%.0f", $0) }
        attributes["distanceMeters"] = distance.map { String(format: "%.0f", $0) }
        let json = (try? JSONSerialization.data(withJSONObject: attributes, options: [.sortedKeys]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let key = Array(SHA256.hash(Array("\(name)|\(deviceId)|\(zoneId)|\(atMicros)".utf8)).prefix(16))
        return (name, atMicros, json, key)
    }
}
