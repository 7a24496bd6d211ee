/// One planned visit as the care-planning system sends it (a CSV row or a JSON object), after validation.
public struct PlannedVisit: Sendable, Equatable {
    public var line: Int
    public var visitRef: String
    public var careRecipientRef: String
    public var staffRef: String
    public var startMicros: Int64
    public var endMicros: Int64
    /// Minutes the door opens before the start and stays openable after the end.
    public var marginMinutes: Int

    public init(line: Int, visitRef: String, careRecipientRef: String, staffRef: String, startMicros: Int64,
                endMicros: Int64, marginMinutes: Int) {
        self.line = line
        self.visitRef = visitRef
        self.careRecipientRef = careRecipientRef
        self.staffRef = staffRef
        self.startMicros = startMicros
        self.endMicros = endMicros
        self.marginMinutes = marginMinutes
    }

    /// The grant window: the planned window widened by the margin on both sides.
    public var validFromMicros: Int64 { startMicros - Int64(marginMinutes) * 60_000_000 }
    public var validToMicros: Int64 { endMicros + Int64(marginMinutes) * 60_000_000 }
}

/// A visit-plan grant on one lock: what identifies it across imports.
public struct PlanGrantKey: Sendable, Hashable {
    public var deviceId: String
    public var staffRef: String
    public var visitRef: String
    public var plannedStartMicros: Int64
    public var plannedEndMicros: Int64
    public var validFromMicros: Int64
    public var validToMicros: Int64

    public init(deviceId: String, visit: PlannedVisit) {
        self.deviceId = deviceId
        staffRef = visit.staffRef
        visitRef = visit.visitRef
        plannedStartMicros = visit.startMicros
        plannedEndMicros = visit.endMicros
        validFromMicros = visit.validFromMicros
        validToMicros = visit.validToMicros
    }

    public init(_ grant: AccessGrant) {
        deviceId = grant.deviceId
        staffRef = grant.staffRef
        visitRef = grant.visitRef ?? ""
        plannedStartMicros = grant.plannedStartMicros ?? .min
        plannedEndMicros = grant.plannedEndMicros ?? .max
        validFromMicros = grant.validFromMicros ?? .min
        validToMicros = grant.validToMicros ?? .max
    }
}

/// What an import of a period changes: the plan's grants replace the importer's visit-plan grants in force in that
/// period, and grants the new plan has too stay as they are, so a re-import of the same plan changes nothing.
/// Two exceptions keep access safe: a grant someone revoked by hand is not created again by a re-import (the
/// revocation stands), and a current grant whose visit is in a row the import could not read (`unreadVisits`)
/// is kept, since an unreadable row is not the plan dropping that visit.
/// Pure: the caller reads the current grants and applies the result in one transaction.
public struct PlanReplacement: Sendable, Equatable {
    /// Planned grants that do not exist yet.
    public var toCreate: [PlanGrantKey]
    /// Current grants the new plan no longer has (ids), to be revoked.
    public var toRevoke: [Int64]
    /// Current grants the new plan has as well (or whose row could not be read).
    public var unchanged: Int
    /// Planned grants not created because the same grant was revoked by hand.
    public var heldRevoked: Int

    public init(current: [AccessGrant], planned: [PlanGrantKey], revokedByHand: [AccessGrant] = [],
                unreadVisits: Set<String> = []) {
        var wanted = Set(planned)
        var revoke: [Int64] = []
        var kept = 0
        for grant in current {
            let key = PlanGrantKey(grant)
            if wanted.remove(key) != nil || unreadVisits.contains(key.visitRef) {
                kept += 1
            } else {
                revoke.append(grant.id)
            }
        }
        let held = Set(revokedByHand.map(PlanGrantKey.init)).intersection(wanted)
        wanted.subtract(held)
        // Keep the plan's own order for what is created (and drop repeats of one key).
        var seen = Set<PlanGrantKey>()
        toCreate = planned.filter { wanted.contains($0) && seen.insert($0).inserted }
        toRevoke = revoke
        unchanged = kept
        heldRevoked = held.count
    }
}

/// Why a plan import could not run.
public enum PlanImportError: Error, Sendable, Equatable {
    /// Another import of the same source holds the plan lock.
    case importInProgress
}

/// A visit-plan import applied: how many grants were created, kept and revoked.
public struct PlanImportResult: Sendable, Equatable {
    public var created: Int
    public var unchanged: Int
    public var revoked: Int
    /// Planned grants left out because the same grant was revoked by hand.
    public var heldRevoked: Int

    public init(created: Int, unchanged: Int, revoked: Int, heldRevoked: Int = 0) {
        self.created = created
        self.unchanged = unchanged
        self.revoked = revoked
        self.heldRevoked = heldRevoked
    }

    public init(_ replacement: PlanReplacement) {
        self.init(created: replacement.toCreate.count, unchanged: replacement.unchanged,
                  revoked: replacement.toRevoke.count, heldRevoked: replacement.heldRevoked)
    }
}
