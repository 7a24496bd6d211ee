import Foundation
import Testing

@testable import Registry

@Suite struct LifecycleTests {
    /// The expected outcome of every (state, action) pair, written out by hand: nil means refused.
    static let table: [LifecycleState: [LifecycleAction: LifecycleState?]] = [
        .registered: [
            .provision: .provisioned, .activate: nil, .suspend: nil, .resume: nil, .decommission: .decommissioned,
        ],
        .provisioned: [
            .provision: nil, .activate: .active, .suspend: .suspended, .resume: nil, .decommission: .decommissioned,
        ],
        .active: [
            .provision: nil, .activate: nil, .suspend: .suspended, .resume: nil, .decommission: .decommissioned,
        ],
        .suspended: [
            .provision: nil, .activate: nil, .suspend: nil, .resume: .active, .decommission: .decommissioned,
        ],
        .decommissioned: [
            .provision: nil, .activate: nil, .suspend: nil, .resume: nil, .decommission: nil,
        ],
    ]

    @Test func tableCoversEveryPair() {
        #expect(Self.table.count == LifecycleState.allCases.count)
        for state in LifecycleState.allCases {
            #expect(Self.table[state]?.count == LifecycleAction.allCases.count, "row for \(state)")
        }
    }

    @Test(arguments: LifecycleState.allCases, LifecycleAction.allCases)
    func transitionMatchesTable(state: LifecycleState, action: LifecycleAction) throws {
        let expected = try #require(Self.table[state]?[action])
        switch Lifecycle.apply(action, to: state) {
        case .success(let next):
            #expect(next == expected, "\(action) from \(state)")
        case .failure(let error):
            #expect(expected == nil, "\(action) from \(state) refused: \(error)")
            #expect(error.state == state)
            #expect(error.action == action)
            #expect(error.allowed == Lifecycle.allowedActions(from: state))
        }
        #expect(Lifecycle.isAllowed(action, from: state) == (expected != nil))
    }

    @Test func allowedActionsMatchTableInStableOrder() {
        #expect(Lifecycle.allowedActions(from: .registered) == [.provision, .decommission])
        #expect(Lifecycle.allowedActions(from: .provisioned) == [.activate, .suspend, .decommission])
        #expect(Lifecycle.allowedActions(from: .active) == [.suspend, .decommission])
        #expect(Lifecycle.allowedActions(from: .suspended) == [.resume, .decommission])
        #expect(Lifecycle.allowedActions(from: .decommissioned) == [])
        for state in LifecycleState.allCases {
            let fromTable = LifecycleAction.allCases.filter { Self.table[state]?[$0] != .some(nil) }
            #expect(Lifecycle.allowedActions(from: state) == fromTable, "\(state)")
        }
    }

    @Test func onlyDecommissionedIsTerminal() {
        #expect(LifecycleState.allCases.filter(\.isTerminal) == [.decommissioned])
    }

    @Test func errorMessagesNameStateAndAllowedActions() {
        let resumeActive = Lifecycle.apply(.resume, to: .active)
        #expect(resumeActive.failureDescription == "cannot resume a device that is active; allowed: suspend, decommission")
        #expect(Lifecycle.apply(.activate, to: .registered).failureDescription
            == "cannot activate a device that is registered; allowed: provision, decommission")
        #expect(Lifecycle.apply(.provision, to: .suspended).failureDescription
            == "cannot provision a device that is suspended; allowed: resume, decommission")
        #expect(Lifecycle.apply(.decommission, to: .decommissioned).failureDescription
            == "cannot decommission a device that is decommissioned; allowed: none (decommissioned is terminal)")
    }

    @Test func resumeReturnsToProvisionedWhenSuspendedBeforeActivation() {
        #expect(Lifecycle.apply(.resume, to: .suspended, suspendedFrom: .provisioned) == .success(.provisioned))
        #expect(Lifecycle.apply(.resume, to: .suspended, suspendedFrom: .active) == .success(.active))
        #expect(Lifecycle.apply(.resume, to: .suspended, suspendedFrom: nil) == .success(.active))
        // suspendedFrom never makes an illegal action legal.
        #expect(Lifecycle.apply(.resume, to: .active, suspendedFrom: .provisioned).failureDescription != nil)
    }

    @Test func transitionBuildsHistoryEntry() throws {
        let entry = try Lifecycle.transition(.suspend, from: .active, actor: "admin:anna", reason: "lost", at: 1_700_000_000.5).get()
        #expect(entry == LifecycleTransition(from: .active, to: .suspended, action: .suspend, actor: "admin:anna", reason: "lost", at: 1_700_000_000.5))
        let refused = Lifecycle.transition(.activate, from: .decommissioned, actor: "gateway", reason: nil, at: 0)
        guard case .failure(let error) = refused else {
            Issue.record("expected a refusal")
            return
        }
        #expect(error.allowed.isEmpty)
    }

    @Test func historyEntryRoundTripsThroughJSON() throws {
        let entry = LifecycleTransition(from: .registered, to: .provisioned, action: .provision, actor: "gateway:claim", reason: nil, at: 12.25)
        let data = try JSONEncoder().encode(entry)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"from\":\"registered\""))
        #expect(text.contains("\"action\":\"provision\""))
        #expect(try JSONDecoder().decode(LifecycleTransition.self, from: data) == entry)
    }

    @Test func walkThroughFullLife() throws {
        var state = LifecycleState.registered
        for action: LifecycleAction in [.provision, .activate, .suspend, .resume, .suspend, .decommission] {
            state = try Lifecycle.apply(action, to: state).get()
        }
        #expect(state == .decommissioned)
    }
}

extension Result where Failure == LifecycleError {
    var failureDescription: String? {
        if case .failure(let error) = self { return error.description }
        return nil
    }
}
