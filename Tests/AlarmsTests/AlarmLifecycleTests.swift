import Foundation
import Models
import Testing

@testable import Alarms

@Suite struct AlarmLifecycleTests {
    @Test func acknowledgeThenResolve() throws {
        let acknowledged = try AlarmLifecycle.apply(.acknowledge(operator: "op-1"), to: AlarmStatus(state: .open)).get()
        #expect(acknowledged.status == AlarmStatus(state: .acknowledged, acknowledgedBy: "op-1"))
        #expect(acknowledged.change == .acknowledged)
        let resolved = try AlarmLifecycle.apply(.resolve(operator: "op-1", outcome: "visit_made", note: nil), to: acknowledged.status).get()
        #expect(resolved.status.state == .resolved)
        #expect(resolved.change == .resolved)
    }

    @Test func theSameOperatorAcknowledgingAgainChangesNothing() throws {
        let status = AlarmStatus(state: .acknowledged, acknowledgedBy: "op-1")
        let again = try AlarmLifecycle.apply(.acknowledge(operator: "op-1"), to: status).get()
        #expect(again.status == status)
        #expect(again.change == nil)
    }

    @Test(arguments: [
        (AlarmStatus(state: .open), AlarmAction.resolve(operator: "op-1", outcome: "false_alarm", note: nil), "acknowledge it before"),
        (AlarmStatus(state: .acknowledged, acknowledgedBy: "op-1"), AlarmAction.acknowledge(operator: "op-2"), "already acknowledged by op-1"),
        (AlarmStatus(state: .acknowledged, acknowledgedBy: "op-1"), AlarmAction.cancel, "an operator resolves it"),
        (AlarmStatus(state: .resolved), AlarmAction.acknowledge(operator: "op-1"), "is resolved"),
        (AlarmStatus(state: .cancelled), AlarmAction.resolve(operator: "op-1", outcome: "false_alarm", note: nil), "is cancelled"),
    ])
    func illegalChangesAreConflicts(status: AlarmStatus, action: AlarmAction, message: String) {
        switch AlarmLifecycle.apply(action, to: status) {
        case .success: Issue.record("\(action) from \(status.state) should be refused")
        case .failure(let conflict): #expect(conflict.description.contains(message), "\(conflict.description)")
        }
    }

    @Test func theDeviceCancelsOnlyAnUnacknowledgedAlarm() throws {
        #expect(try AlarmLifecycle.apply(.cancel, to: AlarmStatus(state: .open)).get().status.state == .cancelled)
    }

    @Test func activeStates() {
        #expect(AlarmState.allCases.filter(\.isActive) == [.open, .acknowledged])
    }
}

@Suite struct AlarmRulesTests {
    static func rules() throws -> AlarmRules {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("DataModels")
        return AlarmRules(catalogue: try Catalogue.load(from: root))
    }

    @Test func theCatalogueDecidesWhichEventRaisesWhat() throws {
        let rules = try Self.rules()
        #expect(rules.decide(event: "alarm_button") == .raise(type: "alarm_button", kind: "care", priority: 1))
        #expect(rules.decide(event: "sos") == .raise(type: "sos", kind: "care", priority: 1))
        #expect(rules.decide(event: "device_offline") == .raise(type: "device_offline", kind: "technical", priority: 3))
        #expect(rules.decide(event: "low_battery") == .raise(type: "low_battery", kind: "technical", priority: 4))
        #expect(rules.decide(event: "alarm_cancelled") == .cancelOpenCareAlarms)
        #expect(rules.decide(event: "heartbeat") == .none)
        #expect(rules.decide(event: "unlocked") == .none)
        #expect(rules.decide(event: "no_such_event") == .none)
    }

    @Test func acknowledgeTargetsPerPriority() throws {
        let rules = try Self.rules()
        #expect(rules.acknowledgeTarget(priority: 1) == 60)
        #expect(rules.acknowledgeTarget(priority: 5) == 14_400)
        #expect(AlarmRules.parseTargets("1=30, 2=120") == [1: 30, 2: 120])
        #expect(AlarmRules.parseTargets("1=0") == nil)
        #expect(AlarmRules.parseTargets("9=10") == nil)
        #expect(AlarmRules.parseTargets("nonsense") == nil)
        let partial = AlarmRules(catalogue: rules.catalogue, acknowledgeTargets: [1: 30, 3: 600])
        #expect(partial.acknowledgeTarget(priority: 2) == 30)
        #expect(partial.acknowledgeTarget(priority: 4) == 600)
    }

    @Test("a responder is sent to an acknowledged alarm only; the same one again changes nothing; another one is a change")
    func responderAssignment() throws {
        let send = { (responder: String) in AlarmAction.assignResponder(operator: "op-2", ResponderAssignment(responder: responder, lockIds: ["lock-1"])) }
        let acknowledged = AlarmStatus(state: .acknowledged, acknowledgedBy: "op-1")
        let first = try AlarmLifecycle.apply(send("staff-7"), to: acknowledged).get()
        #expect(first.change == .responderAssigned && first.status.responder == "staff-7" && first.status.acknowledgedBy == "op-1")
        #expect(try AlarmLifecycle.apply(send("staff-7"), to: first.status).get().change == nil)
        let second = try AlarmLifecycle.apply(send("staff-9"), to: first.status).get()
        #expect(second.change == .responderAssigned && second.status.responder == "staff-9")
        for state in [AlarmState.open, .resolved, .cancelled] {
            #expect(throws: AlarmConflict.self) { try AlarmLifecycle.apply(send("staff-7"), to: AlarmStatus(state: state)).get() }
        }
        // Resolving keeps the responder on record.
        #expect(try AlarmLifecycle.apply(.resolve(operator: "op-1", outcome: "visit_made", note: nil), to: second.status).get()
            .status.responder == "staff-9")
        #expect(AlarmChangeKind(rawValue: "responder_assigned") == .responderAssigned)
    }
}
