import Foundation
import Synchronization

/// Alarms in memory, for tests of the routes without a database. Actions go through `AlarmLifecycle.apply` and
/// append to the timeline as `PostgresAlarmRepository` does; lists and figures are scoped by `tenants` (an alarm
/// without a tenant is outside every tenant list) and `maxConfidentiality`, in the same order and keyset.
public final class InMemoryAlarmRepository: AlarmRepository {
    private struct State {
        var alarms: [Int64: Alarm] = [:]
        var changes: [AlarmChange] = []
        /// What the detail shows beside an alarm of this device (the real one reads `devices` and the latest values).
        var contexts: [String: AlarmContext] = [:]
    }

    private let state = Mutex(State())
    private let visits: AlarmVisits<Void>?

    public init(visits: AlarmVisits<Void>? = nil) {
        self.visits = visits
    }

    private static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }

    /// Opens an alarm, as the alarm engine does on a triggering event.
    @discardableResult
    public func open(deviceId: String, type: String, kind: String = "alarm", priority: Int, tenant: String?,
                     confidentiality: Int, raisedAtMicros: Int64? = nil, ackWithinSeconds: Int64 = 60) -> Alarm {
        let now = Self.now
        let raised = raisedAtMicros ?? now
        return state.withLock { state in
            let id = Int64(state.alarms.count + 1)
            let alarm = Alarm(id: id, deviceId: deviceId, type: type, kind: kind, priority: priority, state: .open,
                              tenant: tenant, raisedAtMicros: raised, openedAtMicros: now, lastTriggeredAtMicros: raised,
                              triggerCount: 1, ackDeadlineMicros: now + ackWithinSeconds * 1_000_000,
                              attributesJSON: "{}", confidentiality: confidentiality)
            state.alarms[id] = alarm
            Self.append(.opened, alarm: id, actor: "device", client: nil, details: "{}", at: now, to: &state)
            return alarm
        }
    }

    /// Sets what the detail of this device's alarms shows beside them.
    public func setContext(deviceId: String, deviceType: String?, placement: String?, careRecipientRef: String?) {
        state.withLock { $0.contexts[deviceId] = AlarmContext(deviceType: deviceType, placement: placement,
                                                               careRecipientRef: careRecipientRef, latest: []) }
    }

    public func list(_ query: AlarmQuery) async throws -> [Alarm] {
        state.withLock { state in
            state.alarms.values.filter { alarm in
                query.states.contains(alarm.state) && (query.priority.map { $0 == alarm.priority } ?? true)
                    && (query.type.map { $0 == alarm.type } ?? true) && (query.tenant.map { $0 == alarm.tenant } ?? true)
                    && (query.fromMicros.map { alarm.raisedAtMicros >= $0 } ?? true)
                    && (query.toMicros.map { alarm.raisedAtMicros < $0 } ?? true)
                    && (query.deviceId.map { $0 == alarm.deviceId } ?? true)
                    && (query.careRecipientRef.map { $0 == state.contexts[alarm.deviceId]?.careRecipientRef } ?? true)
                    && (query.after.map { ($0.priority, $0.raisedAtMicros, $0.id) < Self.key(alarm) } ?? true)
                    && Self.inScope(alarm, tenants: query.tenants, maxConfidentiality: query.maxConfidentiality)
            }
            .sorted { Self.key($0) < Self.key($1) }
            .prefix(query.limit).map { $0 }
        }
    }

    public func alarm(_ id: Int64) async throws -> (alarm: Alarm, timeline: [AlarmChange], context: AlarmContext)? {
        state.withLock { state in
            state.alarms[id].map { alarm in
                (alarm: alarm, timeline: state.changes.filter { $0.alarmId == id },
                 context: state.contexts[alarm.deviceId] ?? AlarmContext(deviceType: nil, placement: nil, careRecipientRef: nil, latest: []))
            }
        }
    }

    public func apply(_ actions: [AlarmAction], to id: Int64, client: String?, visible: @escaping @Sendable (Alarm) -> Bool) async throws -> Alarm? {
        let now = Self.now
        let visits = self.visits
        return try state.withLock { shared in
            // All or nothing, like the real transaction: the actions change a copy, kept only when every one passed.
            // (Grants written before a later refusal would stay: the actions that can be refused come first.)
            var state = shared
            guard var alarm = state.alarms[id], visible(alarm) else { return nil }
            var status = AlarmStatus(state: alarm.state, acknowledgedBy: alarm.acknowledgedBy, responder: alarm.responderRef)
            let by = client ?? "api"
            for action in actions {
                let (next, change) = try AlarmLifecycle.apply(action, to: status).get()
                defer { status = next }
                guard let change else { continue }
                var actor = "device"
                var details = "{}"
                switch action {
                case .acknowledge(let operatorID):
                    alarm.acknowledgedAtMicros = now
                    alarm.acknowledgedBy = operatorID
                    actor = operatorID
                case .assignResponder(let operatorID, let assignment):
                    guard let visits else { throw AlarmConflict("alarm visits (responders with lock grants) are not enabled") }
                    _ = try visits.grants.end(alarmId: id, atMicros: now, by: by, in: ())
                    let until = now + visits.times.capMicros
                    let granted = try visits.grants.grant(
                        staffRef: assignment.responder, lockIds: assignment.lockIds, alarmId: id, fromMicros: now, toMicros: until,
                        grantedBy: by, reason: AlarmVisits<Void>.reason(alarmId: id), in: ())
                    alarm.responderRef = assignment.responder
                    actor = operatorID
                    details = try PostgresAlarmRepository.json(visits.assignedDetails(assignment, previous: status.responder,
                                                                                      granted: granted, untilMicros: until))
                case .resolve(let operatorID, let outcome, let note):
                    alarm.resolvedAtMicros = now
                    alarm.resolvedBy = operatorID
                    alarm.outcome = outcome
                    alarm.note = note
                    actor = operatorID
                    let ended = try visits.map { try $0.grants.end(alarmId: id, atMicros: now + $0.times.marginMicros, by: by, in: ()) } ?? []
                    details = try PostgresAlarmRepository.json((["outcome": outcome, "note": note] as [String: Any?])
                        .merging(PostgresAlarmRepository.endedDetails(ended)) { $1 })
                case .cancel:
                    alarm.cancelledAtMicros = now
                    alarm.outcome = "cancelled_by_device"
                    let ended = try visits.map { try $0.grants.end(alarmId: id, atMicros: now + $0.times.marginMicros, by: "device", in: ()) } ?? []
                    details = try PostgresAlarmRepository.json(PostgresAlarmRepository.endedDetails(ended))
                }
                alarm.state = next.state
                state.alarms[id] = alarm
                Self.append(change, alarm: id, actor: actor, client: action == .cancel ? nil : client, details: details, at: now, to: &state)
            }
            shared = state
            return alarm
        }
    }

    public func changes(after afterId: Int64, limit: Int) async throws -> [(change: AlarmChange, alarm: Alarm)] {
        state.withLock { state in
            state.changes.filter { $0.id > afterId }.prefix(limit).compactMap { change in
                state.alarms[change.alarmId].map { (change: change, alarm: $0) }
            }
        }
    }

    public func stats(fromMicros: Int64, toMicros: Int64, tenants: [String]?, maxConfidentiality: Int) async throws -> AlarmStats {
        let alarms = state.withLock { state in
            state.alarms.values.filter { alarm in
                alarm.raisedAtMicros >= fromMicros && alarm.raisedAtMicros < toMicros
                    && Self.inScope(alarm, tenants: tenants, maxConfidentiality: maxConfidentiality)
            }
        }
        var stats = AlarmStats()
        stats.groups = Dictionary(grouping: alarms) { "\($0.priority) \($0.type)" }.values.map { group in
            AlarmStats.Group(type: group[0].type, priority: group[0].priority, count: group.count,
                             escalated: group.filter { $0.escalatedAtMicros != nil }.count)
        }.sorted { ($0.priority, $0.type) < ($1.priority, $1.type) }
        stats.total = alarms.count
        stats.escalated = alarms.filter { $0.escalatedAtMicros != nil }.count
        func seconds(_ end: KeyPath<Alarm, Int64?>) -> [Double] {
            alarms.compactMap { alarm in alarm[keyPath: end].map { Double($0 - alarm.openedAtMicros) / 1e6 } }.sorted()
        }
        let acknowledge = seconds(\.acknowledgedAtMicros)
        let resolve = seconds(\.resolvedAtMicros)
        stats.acknowledgeMedianSeconds = Self.percentile(0.5, acknowledge)
        stats.acknowledgeP90Seconds = Self.percentile(0.9, acknowledge)
        stats.resolveMedianSeconds = Self.percentile(0.5, resolve)
        stats.resolveP90Seconds = Self.percentile(0.9, resolve)
        return stats
    }

    private static func key(_ alarm: Alarm) -> (Int, Int64, Int64) { (alarm.priority, alarm.raisedAtMicros, alarm.id) }

    private static func inScope(_ alarm: Alarm, tenants: [String]?, maxConfidentiality: Int) -> Bool {
        alarm.confidentiality <= maxConfidentiality && (tenants.map { tenants in alarm.tenant.map { tenants.contains($0) } ?? false } ?? true)
    }

    /// `percentile_cont` over sorted values: linear between the two nearest; nil without values.
    private static func percentile(_ fraction: Double, _ sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let position = fraction * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    private static func append(_ change: AlarmChangeKind, alarm: Int64, actor: String, client: String?, details: String,
                               at: Int64, to state: inout State) {
        state.changes.append(AlarmChange(id: Int64(state.changes.count + 1), alarmId: alarm, change: change, actor: actor,
                                         client: client, atMicros: at, detailsJSON: details))
    }
}
