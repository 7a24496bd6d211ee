import Locks
import Testing

/// What a plan import changes: the same plan twice changes nothing; a changed plan revokes what it dropped.
@Suite struct PlanReplacementTests {
    static func visit(_ ref: String, staff: String = "s-1", start: Int64, margin: Int = 15) -> PlannedVisit {
        PlannedVisit(line: 1, visitRef: ref, careRecipientRef: "cr-1", staffRef: staff, startMicros: start,
                     endMicros: start + 1_800_000_000, marginMinutes: margin)
    }

    static func stored(_ key: PlanGrantKey, id: Int64) -> AccessGrant {
        AccessGrant(id: id, deviceId: key.deviceId, staffRef: key.staffRef, validFromMicros: key.validFromMicros,
                    validToMicros: key.validToMicros, weekly: nil, source: .visitPlan, visitRef: key.visitRef,
                    grantedBy: "planner", reason: nil, createdAtMicros: 0, plannedStartMicros: key.plannedStartMicros,
                    plannedEndMicros: key.plannedEndMicros)
    }

    @Test("the window is the planned visit widened by the margin")
    func margin() {
        let v = Self.visit("v-1", start: 3_600_000_000, margin: 15)
        #expect(v.validFromMicros == 3_600_000_000 - 900_000_000)
        #expect(v.validToMicros == 3_600_000_000 + 1_800_000_000 + 900_000_000)
    }

    @Test("a re-import of the same plan changes nothing; a changed plan creates, keeps and revokes exactly")
    func replacement() {
        let planA = [PlanGrantKey(deviceId: "lock-1", visit: Self.visit("v-1", start: 0)),
                     PlanGrantKey(deviceId: "lock-1", visit: Self.visit("v-2", start: 7_200_000_000)),
                     PlanGrantKey(deviceId: "lock-2", visit: Self.visit("v-2", start: 7_200_000_000))]
        let first = PlanReplacement(current: [], planned: planA)
        #expect(first.toCreate == planA && first.toRevoke.isEmpty && first.unchanged == 0)

        let current = planA.enumerated().map { Self.stored($1, id: Int64($0 + 1)) }
        let again = PlanReplacement(current: current, planned: planA)
        #expect(again.toCreate.isEmpty && again.toRevoke.isEmpty && again.unchanged == 3)

        // v-1 moves to another staff member, v-2 is dropped on lock-2, v-3 is new.
        let planB = [PlanGrantKey(deviceId: "lock-1", visit: Self.visit("v-1", staff: "s-2", start: 0)),
                     PlanGrantKey(deviceId: "lock-1", visit: Self.visit("v-2", start: 7_200_000_000)),
                     PlanGrantKey(deviceId: "lock-1", visit: Self.visit("v-3", start: 9_000_000_000))]
        let changed = PlanReplacement(current: current, planned: planB)
        #expect(changed.toCreate.map(\.visitRef) == ["v-1", "v-3"])
        #expect(changed.toCreate.first?.staffRef == "s-2")
        #expect(changed.toRevoke.sorted() == [1, 3])
        #expect(changed.unchanged == 1)

        // A changed margin is a changed grant; repeats in one plan are created once.
        let widened = PlanReplacement(current: [current[0]],
                                      planned: [PlanGrantKey(deviceId: "lock-1", visit: Self.visit("v-1", start: 0, margin: 30))] + Array(repeating: planA[1], count: 2))
        #expect(widened.toRevoke == [1] && widened.toCreate.count == 2)
    }
}

/// The two exceptions that keep access safe across re-imports.
@Suite struct PlanReplacementSafetyTests {
    @Test("a grant revoked by hand is not made again; a row that could not be read keeps its visit's grant")
    func safety() {
        let v1 = PlanGrantKey(deviceId: "lock-1", visit: PlanReplacementTests.visit("v-1", start: 0))
        let v2 = PlanGrantKey(deviceId: "lock-1", visit: PlanReplacementTests.visit("v-2", start: 7_200_000_000))
        var revoked = PlanReplacementTests.stored(v1, id: 1)
        revoked.revokedAtMicros = 5
        revoked.revokedBy = "supervisor"
        let current = [PlanReplacementTests.stored(v2, id: 2)]
        // The plan has v-1 again (revoked by hand: held) and v-2's row was unreadable this time (kept).
        let replacement = PlanReplacement(current: current, planned: [v1], revokedByHand: [revoked], unreadVisits: ["v-2"])
        #expect(replacement.toCreate.isEmpty && replacement.heldRevoked == 1)
        #expect(replacement.toRevoke.isEmpty && replacement.unchanged == 1)
        // Without the unreadable row, v-2 is dropped by the plan and revoked.
        #expect(PlanReplacement(current: current, planned: [v1], revokedByHand: [revoked]).toRevoke == [2])
    }
}
