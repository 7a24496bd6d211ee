import Foundation
import Synchronization

/// Storage of access grants (table `lock_grants`, migration 0009).
public protocol GrantRepository: Sendable {
    /// Creates a grant on `deviceId`, granted by `grantedBy` (the API client).
    func create(_ grant: NewGrant, deviceId: String, grantedBy: String) async throws -> AccessGrant
    /// The grants of a lock, newest first (ids below `beforeId`, at most `limit`): those in force or starting
    /// later, and with `includeEnded` also expired and revoked ones.
    func grants(deviceId: String, includeEnded: Bool, nowMicros: Int64, beforeId: Int64?, limit: Int) async throws -> [AccessGrant]
    /// Every grant of one staff member on one lock, revoked ones included (the decision reads these: a revoked
    /// grant still allowed what came before its revocation).
    func grants(deviceId: String, staffRef: String) async throws -> [AccessGrant]
    /// Revokes a grant of this lock; nil when there is none with this id (a revoked one is returned as it is). A
    /// revocation still ahead (an alarm grant's end at resolution + margin) is brought forward to now.
    func revoke(_ id: Int64, deviceId: String, by: String) async throws -> AccessGrant?
    /// The `alarm` grants of these alarms (their `visitRef` is the alarm id), revoked ones included, oldest first.
    func alarmGrants(alarmIds: [Int64]) async throws -> [AccessGrant]
    /// Replaces, in one transaction, the visit-plan grants that `by` (the importing client: the plan's source)
    /// made on `deviceIds` (the locks the importer may touch) with a planned start in `fromMicros ..< toMicros`
    /// by `planned` (`PlanReplacement`: what exists stays, what the plan dropped is revoked by `by`, visits in
    /// `unreadVisits` keep their grants, grants revoked by hand are not made again). One import per source at a
    /// time: another one running is `PlanImportError.importInProgress`.
    func replacePlan(_ planned: [PlanGrantKey], deviceIds: [String], fromMicros: Int64, toMicros: Int64,
                     unreadVisits: Set<String>, by: String) async throws -> PlanImportResult
}

/// Grants in memory, for router tests: the same rules as `PostgresGrantRepository`.
public final class InMemoryGrantRepository: GrantRepository {
    private let state = Mutex<(grants: [AccessGrant], nextId: Int64)>(([], 1))
    private let clock: @Sendable () -> Int64

    public init(clock: @escaping @Sendable () -> Int64 = { systemMicros() }) {
        self.clock = clock
    }

    public func create(_ grant: NewGrant, deviceId: String, grantedBy: String) async throws -> AccessGrant {
        let now = clock()
        return state.withLock { state in
            let created = AccessGrant(id: state.nextId, deviceId: deviceId, staffRef: grant.staffRef,
                                      validFromMicros: grant.validFromMicros, validToMicros: grant.validToMicros,
                                      weekly: grant.weekly, source: grant.source, visitRef: grant.visitRef,
                                      grantedBy: grantedBy, reason: grant.reason, createdAtMicros: now)
            state.nextId += 1
            state.grants.append(created)
            return created
        }
    }

    public func grants(deviceId: String, includeEnded: Bool, nowMicros: Int64, beforeId: Int64?, limit: Int) async throws -> [AccessGrant] {
        state.withLock { state in
            Array(state.grants.filter { grant in
                grant.deviceId == deviceId && grant.id < (beforeId ?? .max)
                    && (includeEnded || ((grant.revokedAtMicros ?? .max) > nowMicros && (grant.validToMicros ?? .max) > nowMicros))
            }.sorted { $0.id > $1.id }.prefix(limit))
        }
    }

    public func grants(deviceId: String, staffRef: String) async throws -> [AccessGrant] {
        state.withLock { state in
            state.grants.filter { $0.deviceId == deviceId && $0.staffRef == staffRef }
        }
    }

    public func replacePlan(_ planned: [PlanGrantKey], deviceIds: [String], fromMicros: Int64, toMicros: Int64,
                            unreadVisits: Set<String>, by: String) async throws -> PlanImportResult {
        let now = clock()
        let scope = Set(deviceIds)
        return state.withLock { state in
            let inPeriod = state.grants.filter { grant in
                grant.source == .visitPlan && grant.grantedBy == by && scope.contains(grant.deviceId)
                    && (grant.plannedStartMicros.map { $0 >= fromMicros && $0 < toMicros } ?? false)
            }
            let replacement = PlanReplacement(
                current: inPeriod.filter { $0.revokedAtMicros == nil }, planned: planned,
                revokedByHand: inPeriod.filter { $0.revokedAtMicros != nil && $0.revokedBy != by }, unreadVisits: unreadVisits)
            let revoke = Set(replacement.toRevoke)
            for index in state.grants.indices where revoke.contains(state.grants[index].id) {
                state.grants[index].revokedAtMicros = now
                state.grants[index].revokedBy = by
            }
            for key in replacement.toCreate {
                state.grants.append(AccessGrant(
                    id: state.nextId, deviceId: key.deviceId, staffRef: key.staffRef, validFromMicros: key.validFromMicros,
                    validToMicros: key.validToMicros, weekly: nil, source: .visitPlan, visitRef: key.visitRef, grantedBy: by,
                    reason: nil, createdAtMicros: now, plannedStartMicros: key.plannedStartMicros,
                    plannedEndMicros: key.plannedEndMicros))
                state.nextId += 1
            }
            return PlanImportResult(replacement)
        }
    }

    public func revoke(_ id: Int64, deviceId: String, by: String) async throws -> AccessGrant? {
        let now = clock()
        return state.withLock { state in
            guard let index = state.grants.firstIndex(where: { $0.id == id && $0.deviceId == deviceId }) else { return nil }
            if (state.grants[index].revokedAtMicros ?? .max) > now {
                state.grants[index].revokedAtMicros = now
                state.grants[index].revokedBy = by
            }
            return state.grants[index]
        }
    }
}

extension InMemoryGrantRepository {
    public func alarmGrants(alarmIds: [Int64]) async throws -> [AccessGrant] {
        let refs = Set(alarmIds.map(String.init))
        return state.withLock { state in
            state.grants.filter { $0.source == .alarm && $0.visitRef.map(refs.contains) == true }
        }
    }

    /// `PostgresGrantRepository.createAlarmGrants`, in memory (synchronous: the in-memory alarm repository calls it
    /// while it holds its own state, as the real one does inside its transaction).
    public func createAlarmGrants(staffRef: String, lockIds: [String], alarmId: Int64, fromMicros: Int64, toMicros: Int64,
                                  grantedBy: String, reason: String) -> [AccessGrant] {
        let now = clock()
        return state.withLock { state in
            lockIds.map { lock in
                let grant = AccessGrant(id: state.nextId, deviceId: lock, staffRef: staffRef, validFromMicros: fromMicros,
                                        validToMicros: toMicros, weekly: nil, source: .alarm, visitRef: String(alarmId),
                                        grantedBy: grantedBy, reason: reason, createdAtMicros: now)
                state.nextId += 1
                state.grants.append(grant)
                return grant
            }
        }
    }

    /// `PostgresGrantRepository.endAlarmGrants`, in memory.
    public func endAlarmGrants(alarmId: Int64, atMicros: Int64, by: String) -> [AccessGrant] {
        state.withLock { state in
            var ended: [AccessGrant] = []
            for index in state.grants.indices where state.grants[index].source == .alarm
                && state.grants[index].visitRef == String(alarmId) && state.grants[index].revokedAtMicros == nil {
                state.grants[index].revokedAtMicros = atMicros
                state.grants[index].revokedBy = by
                ended.append(state.grants[index])
            }
            return ended
        }
    }
}

/// Microseconds since 1970 from the system clock.
public func systemMicros() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1e6).rounded())
}
