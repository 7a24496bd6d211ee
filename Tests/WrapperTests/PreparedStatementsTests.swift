@testable import Postgres
import Testing

/// The decisions of `PreparedStatements`, without a server.
@Suite struct PreparedStatementsTests {
    @Test func preparedOnTheSecondUseThenRun() {
        var statements = PreparedStatements(capacity: 2)
        #expect(statements.plan(for: "a", canPrepare: true) == .unprepared)
        guard case .prepare(let name) = statements.plan(for: "a", canPrepare: true) else { Issue.record("not prepared"); return }
        #expect(statements.plan(for: "a", canPrepare: true) == .run(name: name))
        #expect(statements.count == 1)
    }

    @Test func theLeastRecentlyUsedMakesWayAndIsDeallocatedLater() {
        var statements = PreparedStatements(capacity: 2)
        func prepare(_ sql: String) -> String {
            _ = statements.plan(for: sql, canPrepare: true)
            guard case .prepare(let name) = statements.plan(for: sql, canPrepare: true) else { return "" }
            return name
        }
        let a = prepare("a")
        let b = prepare("b")
        #expect(statements.plan(for: "a", canPrepare: true) == .run(name: a))  // b is now the least recently used
        _ = prepare("c")
        #expect(statements.count == 2)
        #expect(statements.takeStale() == [b])
        #expect(statements.takeStale().isEmpty)
        #expect(statements.plan(for: "a", canPrepare: true) == .run(name: a))
        #expect(statements.plan(for: "b", canPrepare: true) == .unprepared)
    }

    @Test func nothingIsPreparedInAFailedTransaction() {
        var statements = PreparedStatements(capacity: 2)
        for _ in 0..<3 { #expect(statements.plan(for: "a", canPrepare: false) == .unprepared) }
        #expect(statements.count == 0)
    }

    @Test func aRefusedStatementIsForgottenAndDeallocatedOnlyIfTheServerStillHasIt() {
        var statements = PreparedStatements(capacity: 4)
        _ = statements.plan(for: "a", canPrepare: true)
        guard case .prepare(let a) = statements.plan(for: "a", canPrepare: true) else { Issue.record("not prepared"); return }
        _ = statements.plan(for: "b", canPrepare: true)
        _ = statements.plan(for: "b", canPrepare: true)
        statements.refused("a", stillOnServer: true)
        statements.refused("b", stillOnServer: false)
        #expect(statements.takeStale() == [a])
        #expect(statements.count == 0)
        #expect(statements.plan(for: "a", canPrepare: true) == .unprepared)
    }

    @Test func aFailedPrepareLeavesNothing() {
        var statements = PreparedStatements(capacity: 4)
        _ = statements.plan(for: "bad", canPrepare: true)
        _ = statements.plan(for: "bad", canPrepare: true)
        statements.prepareFailed("bad")
        #expect(statements.count == 0)
        #expect(statements.takeStale().isEmpty)
    }

    @Test func textsUsedOnceAreRememberedBoundedly() {
        var statements = PreparedStatements(capacity: 3)
        for value in 0..<100 { #expect(statements.plan(for: "SELECT \(value)", canPrepare: true) == .unprepared) }
        #expect(statements.count == 0)
    }
}
