// The device lifecycle as a pure state machine: no I/O, no clock, no storage.
//
//   from \ action   provision    activate  suspend    resume   decommission
//   registered       provisioned  -         -          -        decommissioned
//   provisioned      -            active    suspended  -        decommissioned
//   active           -            -         suspended  -        decommissioned
//   suspended        -            -         -          active   decommissioned
//   decommissioned   (terminal: nothing)
//
// The storage layer appends a `LifecycleTransition` for every successful `apply`, and the API answers 409 with the
// `LifecycleError`'s description for every refused one. The broker side (enable / disable / delete the device's
// dynamic-security client) is driven by the resulting state, not by this file.

/// Where a device is in its life. Raw values are the wire and database spelling.
public enum LifecycleState: String, Sendable, Codable, CaseIterable {
    case registered
    case provisioned
    case active
    case suspended
    case decommissioned

    /// `decommissioned` is terminal: nothing may follow it.
    public var isTerminal: Bool { self == .decommissioned }
}

/// What an administrator (or, for `provision` and `activate`, the gateway itself) asks to happen to a device.
public enum LifecycleAction: String, Sendable, Codable, CaseIterable {
    /// The device claimed its code and got its own broker client.
    case provision
    /// The first valid message arrived from a provisioned device.
    case activate
    /// Disable the device's broker client (connection dropped, reconnect refused).
    case suspend
    /// Enable the device's broker client again.
    case resume
    /// Delete the device's broker client for good.
    case decommission
}

/// A refused transition. The description names the action, the current state and what is allowed from it, e.g.
/// `cannot resume a device that is active; allowed: suspend, decommission`.
public struct LifecycleError: Error, Sendable, Equatable, CustomStringConvertible {
    public let action: LifecycleAction
    public let state: LifecycleState
    public let allowed: [LifecycleAction]

    public init(action: LifecycleAction, state: LifecycleState, allowed: [LifecycleAction]) {
        self.action = action
        self.state = state
        self.allowed = allowed
    }

    public var description: String {
        let allowedText = allowed.isEmpty
            ? "none (\(state.rawValue) is terminal)"
            : allowed.map(\.rawValue).joined(separator: ", ")
        return "cannot \(action.rawValue) a device that is \(state.rawValue); allowed: \(allowedText)"
    }
}

/// One entry of a device's append-only lifecycle history.
public struct LifecycleTransition: Sendable, Equatable, Codable {
    public let from: LifecycleState
    public let to: LifecycleState
    public let action: LifecycleAction
    /// Who asked: an operator's user id, or e.g. `gateway` / `gateway:claim` for automatic transitions.
    public let actor: String
    public let reason: String?
    /// Seconds since 1970-01-01T00:00:00Z.
    public let at: Double

    public init(
        from: LifecycleState, to: LifecycleState, action: LifecycleAction,
        actor: String, reason: String?, at: Double
    ) {
        self.from = from
        self.to = to
        self.action = action
        self.actor = actor
        self.reason = reason
        self.at = at
    }
}

public struct Lifecycle: Sendable {
    /// The actions that are legal from `state`, in a stable order (the order of `LifecycleAction.allCases`).
    public static func allowedActions(from state: LifecycleState) -> [LifecycleAction] {
        switch state {
        case .registered: [.provision, .decommission]
        case .provisioned: [.activate, .suspend, .decommission]
        case .active: [.suspend, .decommission]
        case .suspended: [.resume, .decommission]
        case .decommissioned: []
        }
    }

    /// Whether `action` is legal from `state`.
    public static func isAllowed(_ action: LifecycleAction, from state: LifecycleState) -> Bool {
        allowedActions(from: state).contains(action)
    }

    /// The state after `action`, or the reason it is refused.
    ///
    /// `resume` leads to `active`, as in the lifecycle diagram. A device can also be suspended while still
    /// `provisioned` (a box that must not come online); to send such a device back to `provisioned` rather than
    /// `active` on resume, pass the state it was suspended from (the `from` of its latest `suspend` transition) as
    /// `suspendedFrom`. Only `.provisioned` changes the outcome; any other value (or nil) resumes to `active`.
    public static func apply(
        _ action: LifecycleAction,
        to state: LifecycleState,
        suspendedFrom: LifecycleState? = nil
    ) -> Result<LifecycleState, LifecycleError> {
        switch (state, action) {
        case (.registered, .provision):
            return .success(.provisioned)
        case (.provisioned, .activate):
            return .success(.active)
        case (.provisioned, .suspend), (.active, .suspend):
            return .success(.suspended)
        case (.suspended, .resume):
            return .success(suspendedFrom == .provisioned ? .provisioned : .active)
        case (.registered, .decommission), (.provisioned, .decommission),
             (.active, .decommission), (.suspended, .decommission):
            return .success(.decommissioned)
        default:
            return .failure(LifecycleError(action: action, state: state, allowed: allowedActions(from: state)))
        }
    }

    /// `apply`, packaged as the history entry to append when it succeeds.
    public static func transition(
        _ action: LifecycleAction,
        from state: LifecycleState,
        actor: String,
        reason: String?,
        at: Double,
        suspendedFrom: LifecycleState? = nil
    ) -> Result<LifecycleTransition, LifecycleError> {
        apply(action, to: state, suspendedFrom: suspendedFrom).map { next in
            LifecycleTransition(from: state, to: next, action: action, actor: actor, reason: reason, at: at)
        }
    }
}
