import Foundation

/// What the state machine remembers about one zone of a device.
public struct ZoneTrack: Sendable, Equatable, Codable {
    /// Classification of the last fix evaluated while the zone was in force.
    public var lastClass: FixClass?
    /// Start of the current outside run (first outside observation since the last inside fix).
    public var outsideSinceMicros: Int64?
    /// Outside observations in the current run (uncertain fixes neither add nor reset).
    public var consecutiveOutside: Int = 0
    /// The latest outside observation and its distance beyond the edge, carried by the exit.
    public var lastOutsideFix: Fix?
    public var lastOutsideDistanceMeters: Double?
    /// An exit was raised and no return has been seen yet.
    public var exitRaised: Bool = false
    /// Start of the schedule window already handled, so a window start raises at most once.
    public var handledWindowStartMicros: Int64?

    public init() {}

    /// Forgets the current run; a raised exit stays raised until a return.
    mutating func clearRun() {
        lastClass = nil
        outsideSinceMicros = nil
        consecutiveOutside = 0
        lastOutsideFix = nil
        lastOutsideDistanceMeters = nil
    }

    mutating func observeOutside(at micros: Int64, fix: Fix, distance: Double) {
        outsideSinceMicros = min(outsideSinceMicros ?? micros, micros)
        consecutiveOutside = min(consecutiveOutside, Int.max - 1) + 1
        lastOutsideFix = fix
        lastOutsideDistanceMeters = distance
    }

    /// Raises the exit if the run is confirmed by `upTo`. `countReachedAt` is the time of the observation just
    /// counted; the exit time is the earlier of that (if the count suffices) and the dwell deadline.
    mutating func confirm(_ zone: PreparedZone, upTo now: Int64, countReachedAt: Int64?) -> GeofenceAction? {
        guard !exitRaised, let since = outsideSinceMicros, let fix = lastOutsideFix,
              let distance = lastOutsideDistanceMeters else { return nil }
        var at: Int64?
        if let countReachedAt, consecutiveOutside >= zone.confirmFixes { at = countReachedAt }
        // A run of one fix dwells from that fix itself, not from a crossing dated back: a single outlier far out (a
        // reflection off a building) must stay unanswered for the whole dwell before it counts, not confirm itself
        // on arrival because its segment from the last inside fix began long ago.
        let dwellStart = consecutiveOutside >= 2 ? since : max(since, fix.atMicros)
        let dwellDeadline = dwellStart.saturatingAdd(zone.confirmMicros)
        if dwellDeadline <= now { at = min(at ?? dwellDeadline, dwellDeadline) }
        guard let at else { return nil }
        exitRaised = true
        return .exit(zoneId: zone.id, fix: fix, distanceMeters: distance, atMicros: at)
    }
}

/// Per-device geofence state: a value-type state machine. Feed it fixes and timer ticks; it returns actions and
/// never performs side effects. Persist it (Codable) between calls.
public struct DeviceGeofence: Sendable, Equatable, Codable {
    /// The latest valid fix applied; older fixes are ignored.
    public private(set) var lastFix: Fix?
    public private(set) var tracks: [Int64: ZoneTrack] = [:]

    public init() {}

    // MARK: Fixes

    /// Convenience that prepares the zones on every call (validation is O(n^2) in polygon vertices);
    /// hot paths should keep `PreparedZone`s.
    public mutating func apply(_ fix: Fix, zones: [Zone], calendar: some ZoneCalendar) -> [GeofenceAction] {
        apply(fix, zones: zones.map(PreparedZone.init), calendar: calendar)
    }

    /// Evaluates one fix against the device's zones. Invalid fixes, fixes older than the last one and exact
    /// repeats are ignored. State of zones not listed is dropped.
    public mutating func apply(_ fix: Fix, zones: [PreparedZone], calendar: some ZoneCalendar) -> [GeofenceAction] {
        guard fix.isValid else { return [] }
        if let lastFix {
            if fix.atMicros < lastFix.atMicros || fix == lastFix { return [] }
        }
        dropTracks(notIn: zones)
        var actions: [GeofenceAction] = []
        var seen = Set<Int64>()
        for zone in zones where zone.isUsable && seen.insert(zone.id).inserted {
            var track = tracks[zone.id] ?? ZoneTrack()
            if calendar.isActive(zone.id, atMicros: fix.atMicros) {
                let windowStart = calendar.activeSince(zone.id, atMicros: fix.atMicros)
                if let a = startWindowIfNeeded(&track, zone, windowStart: windowStart) { actions.append(a) }
                evaluate(fix, zone, windowStart: windowStart, &track, &actions)
            } else {
                track.clearRun()
                // Off schedule nothing new is raised, but a return after a raised exit is still worth recording.
                if track.exitRaised, zone.classify(fix).0 == .inside {
                    track.exitRaised = false
                    actions.append(.returned(zoneId: zone.id, fix: fix, atMicros: fix.atMicros))
                }
            }
            store(track, for: zone.id)
        }
        lastFix = fix
        return actions
    }

    private mutating func evaluate(
        _ fix: Fix, _ zone: PreparedZone, windowStart: Int64?,
        _ track: inout ZoneTrack, _ actions: inout [GeofenceAction]
    ) {
        let (fixClass, distance) = zone.classify(fix)

        // Sparse fixes: the straight walk from the previous fix may have left the buffered zone in between.
        if let crossing = segmentCrossing(to: fix, fixClass: fixClass, zone, windowStart: windowStart) {
            if fixClass == .outside {
                // The fix itself is the outside observation; the crossing only dates the run's start, so one
                // outlier fix cannot confirm an exit alone, while the dwell runs from when the walk left.
                track.outsideSinceMicros = min(track.outsideSinceMicros ?? crossing.fix.atMicros, crossing.fix.atMicros)
            } else {
                track.observeOutside(at: crossing.fix.atMicros, fix: crossing.fix, distance: crossing.distance)
                let reachedAt = crossing.fix.atMicros
                // Back inside: the run lasted until the segment came back; otherwise it is still open.
                let upTo = fixClass == .inside ? crossing.backMicros : fix.atMicros
                if let a = track.confirm(zone, upTo: upTo, countReachedAt: reachedAt) { actions.append(a) }
            }
        }

        switch fixClass {
        case .outside:
            track.observeOutside(at: fix.atMicros, fix: fix, distance: distance ?? 0)
            if let a = track.confirm(zone, upTo: fix.atMicros, countReachedAt: fix.atMicros) { actions.append(a) }
        case .inside:
            if track.exitRaised {
                actions.append(.returned(zoneId: zone.id, fix: fix, atMicros: fix.atMicros))
            }
            track.clearRun()
            track.exitRaised = false
        case .uncertain:
            // Changes nothing, but a dwell that has run out is noticed at any fix.
            if let a = track.confirm(zone, upTo: fix.atMicros, countReachedAt: nil) { actions.append(a) }
        }
        track.lastClass = fixClass
    }

    private struct Crossing {
        var fix: Fix
        var distance: Double
        var backMicros: Int64
    }

    /// A crossing counts when both fixes are accurate enough, at most `maxSegmentSeconds` apart, the previous one
    /// was not outside, and the segment gets `buffer + the larger accuracy` beyond the edge. Its time is
    /// interpolated linearly along the segment (and not before the window start); its position linearly in
    /// latitude/longitude, with the larger accuracy of the two fixes.
    private func segmentCrossing(
        to fix: Fix, fixClass: FixClass, _ zone: PreparedZone, windowStart: Int64?
    ) -> Crossing? {
        guard let previous = lastFix, let shape = zone.shape,
              zone.hasUsableAccuracy(previous), zone.hasUsableAccuracy(fix),
              fix.atMicros.saturatingSubtract(previous.atMicros) <= zone.maxSegmentMicros,
              zone.classify(previous).0 != .outside
        else { return nil }
        let accuracy = max(previous.accuracyOrZero, fix.accuracyOrZero)
        let threshold = zone.exitBufferMeters + accuracy
        guard let excursion = shape.excursion(from: previous.point, to: fix.point, threshold: threshold) else {
            return nil
        }
        func time(at s: Double) -> Int64 {
            let t0 = Double(previous.atMicros), t1 = Double(fix.atMicros)
            let t = Int64(clampingDouble: (t0 + (t1 - t0) * s).rounded())
            return min(max(t, previous.atMicros), fix.atMicros)
        }
        var leftAt = time(at: excursion.leaves)
        if let windowStart, windowStart > leftAt { leftAt = min(windowStart, fix.atMicros) }
        let s = excursion.leaves
        let point = GeoPoint(
            latitude: previous.point.latitude + (fix.point.latitude - previous.point.latitude) * s,
            longitude: previous.point.longitude + (fix.point.longitude - previous.point.longitude) * s)
        let accuracyField: Double? = previous.accuracyMeters == nil && fix.accuracyMeters == nil ? nil : accuracy
        let crossingFix = Fix(atMicros: leftAt, point: point, accuracyMeters: accuracyField)
        let distance = zone.signedDistanceMeters(point) ?? threshold
        return Crossing(fix: crossingFix, distance: distance, backMicros: max(leftAt, time(at: excursion.returns)))
    }

    // MARK: Timer

    /// Convenience that prepares the zones on every call.
    public mutating func tick(nowMicros: Int64, zones: [Zone], calendar: some ZoneCalendar) -> [GeofenceAction] {
        tick(nowMicros: nowMicros, zones: zones.map(PreparedZone.init), calendar: calendar)
    }

    /// Confirms dwell exits and schedule-window starts without a new fix. Call it every few seconds.
    public mutating func tick(nowMicros: Int64, zones: [PreparedZone], calendar: some ZoneCalendar) -> [GeofenceAction] {
        dropTracks(notIn: zones)
        var actions: [GeofenceAction] = []
        var seen = Set<Int64>()
        for zone in zones where zone.isUsable && seen.insert(zone.id).inserted {
            var track = tracks[zone.id] ?? ZoneTrack()
            if calendar.isActive(zone.id, atMicros: nowMicros) {
                let windowStart = calendar.activeSince(zone.id, atMicros: nowMicros)
                if let a = startWindowIfNeeded(&track, zone, windowStart: windowStart) { actions.append(a) }
                if let a = track.confirm(zone, upTo: nowMicros, countReachedAt: nil) { actions.append(a) }
            } else {
                track.clearRun()
            }
            store(track, for: zone.id)
        }
        return actions
    }

    // MARK: Schedules

    /// Once per window: the run starts afresh, and if the last fix before the window was outside and recent
    /// enough the exit is raised at the window's start (the person is already gone; no confirmation wait).
    private func startWindowIfNeeded(
        _ track: inout ZoneTrack, _ zone: PreparedZone, windowStart: Int64?
    ) -> GeofenceAction? {
        guard let windowStart, track.handledWindowStartMicros != windowStart else { return nil }
        track.handledWindowStartMicros = windowStart
        guard let previous = lastFix, previous.atMicros <= windowStart else { return nil }
        track.clearRun()
        guard !track.exitRaised,
              windowStart.saturatingSubtract(previous.atMicros) <= zone.windowStartMaxFixAgeMicros
        else { return nil }
        let (fixClass, distance) = zone.classify(previous)
        guard fixClass == .outside, let distance else { return nil }
        track.exitRaised = true
        track.lastClass = .outside
        track.lastOutsideFix = previous
        track.lastOutsideDistanceMeters = distance
        return .exit(zoneId: zone.id, fix: previous, distanceMeters: distance, atMicros: windowStart)
    }

    // MARK: Bookkeeping

    private mutating func store(_ track: ZoneTrack, for id: Int64) {
        tracks[id] = track == ZoneTrack() ? nil : track
    }

    private mutating func dropTracks(notIn zones: [PreparedZone]) {
        guard !tracks.isEmpty else { return }
        let ids = Set(zones.map(\.id))
        tracks = tracks.filter { ids.contains($0.key) }
    }
}
