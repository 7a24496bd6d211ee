// The alarm lifecycle as a pure state machine: no I/O, no clock.
//
//   open ──acknowledge──▶ acknowledged ──resolve──▶ resolved
//     │                      │  ▲
//     │                      └──┘ assign responder (an alarm visit: the responder may open the home's locks)
//     │
//     └──cancel (the device resets it, SCAIP RE)──▶ cancelled
//
// A repeated trigger of an open or acknowledged alarm is counted on it (`retrigger`); escalation flags an open
// alarm past its time-to-acknowledge target. Every change is one line of the alarm's timeline.

/// Where an alarm is. Raw values are the wire and database spelling.
public enum AlarmState: String, Sendable, Codable, CaseIterable {
    case open
    case acknowledged
    case resolved
    case cancelled

    /// Open and acknowledged alarms are active: a new trigger of the same type counts on them.
    public var isActive: Bool { self == .open || self == .acknowledged }
}

/// What can happen to an alarm; each is a timeline entry (`change`).
public enum AlarmChangeKind: String, Sendable, Codable, CaseIterable {
    case opened
    case retriggered
    case acknowledged
    case resolved
    case cancelled
    case escalated
    /// A responder was sent (or changed): their lock grants are in the details.
    case responderAssigned = "responder_assigned"
    /// The wearer of a GPS alarm came back into the zone an exit alarm is about (noted; an operator resolves).
    case zoneReturned = "zone_returned"
}

/// An operator's or the device's request on an alarm.
public enum AlarmAction: Sendable, Equatable {
    case acknowledge(operator: String)
    case resolve(operator: String, outcome: String, note: String?)
    /// The device reset the alarm itself before anyone acknowledged it.
    case cancel
    /// Sends a responder to an acknowledged alarm (or another one instead of the current).
    case assignResponder(operator: String, ResponderAssignment)

    var name: String {
        switch self {
        case .acknowledge: "acknowledge"
        case .resolve: "resolve"
        case .cancel: "cancel"
        case .assignResponder: "assign responder"
        }
    }
}

/// Why an action was refused; the API answers 409 with the description.
public struct AlarmConflict: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The part of an alarm the lifecycle needs.
public struct AlarmStatus: Sendable, Equatable {
    public var state: AlarmState
    public var acknowledgedBy: String?
    public var responder: String?

    public init(state: AlarmState, acknowledgedBy: String? = nil, responder: String? = nil) {
        self.state = state
        self.acknowledgedBy = acknowledgedBy
        self.responder = responder
    }
}

public enum AlarmLifecycle {
    /// The result of an action: the new status and the timeline entry to append, nil when the action changes
    /// nothing (the same operator acknowledging again); or the conflict.
    public static func apply(_ action: AlarmAction, to status: AlarmStatus)
        -> Result<(status: AlarmStatus, change: AlarmChangeKind?), AlarmConflict>
    {
        switch (status.state, action) {
        case (.open, .acknowledge(let operatorID)):
            return .success((AlarmStatus(state: .acknowledged, acknowledgedBy: operatorID), .acknowledged))
        case (.acknowledged, .acknowledge(let operatorID)):
            if operatorID == status.acknowledgedBy { return .success((status, nil)) }
            return .failure(AlarmConflict(
                "the alarm is already acknowledged by \(status.acknowledgedBy ?? "another operator")"))
        case (.acknowledged, .resolve):
            return .success((AlarmStatus(state: .resolved, acknowledgedBy: status.acknowledgedBy, responder: status.responder), .resolved))
        case (.acknowledged, .assignResponder(_, let assignment)):
            // Any operator may send or change the responder (shifts hand over), like resolving; the same one again
            // changes nothing.
            if assignment.responder == status.responder { return .success((status, nil)) }
            var next = status
            next.responder = assignment.responder
            return .success((next, .responderAssigned))
        case (.open, .assignResponder):
            return .failure(AlarmConflict("the alarm is open: acknowledge it (with the responder) first"))
        case (.open, .resolve):
            return .failure(AlarmConflict("the alarm is open: acknowledge it before resolving it"))
        case (.open, .cancel):
            return .success((AlarmStatus(state: .cancelled), .cancelled))
        case (.acknowledged, .cancel):
            return .failure(AlarmConflict("the alarm is acknowledged: an operator resolves it"))
        case (.resolved, _), (.cancelled, _):
            return .failure(AlarmConflict("the alarm is \(status.state.rawValue); nothing more can be done with it"))
        }
    }
}
