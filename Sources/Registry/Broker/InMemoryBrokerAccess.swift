import Synchronization

/// A broker stand-in for tests: remembers what it was asked to enforce, in order, and fails while `failing` is
/// set (as a broker that is away does).
public final class InMemoryBrokerAccess: BrokerAccess {
    private let state = Mutex<(enforced: [(deviceId: String, state: LifecycleState)], failing: Bool)>(([], false))

    public init() {}

    public func enforce(_ state: LifecycleState, deviceId: String) async throws {
        try self.state.withLock { current in
            if current.failing { throw BrokerError("the broker is away") }
            current.enforced.append((deviceId, state))
        }
    }

    /// What was enforced so far, oldest first.
    public var enforced: [(deviceId: String, state: LifecycleState)] { state.withLock { $0.enforced } }

    public func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }
}
