import Synchronization

/// Subscriptions in memory, as `PostgresSubscriptions` keeps them for the API: for router tests.
public final class InMemorySubscriptionRepository: SubscriptionRepository {
    private let stored = Mutex<[StoredSubscription]>([])

    public init() {}

    public func create(_ subscription: Subscription, owner: String, tenants: [String]?) async throws -> Bool {
        stored.withLock { all in
            guard !all.contains(where: { $0.subscription.id == subscription.id }) else { return false }
            all.append(StoredSubscription(subscription: subscription, owner: owner, tenants: tenants))
            return true
        }
    }

    public func list(owner: String, offset: Int, limit: Int) async throws -> [StoredSubscription] {
        Array(stored.withLock { $0 }.filter { $0.owner == owner }.dropFirst(offset).prefix(limit))
    }

    public func subscription(id: String, owner: String) async throws -> StoredSubscription? {
        stored.withLock { $0 }.first { $0.subscription.id == id && $0.owner == owner }
    }

    public func replace(_ subscription: Subscription, owner: String) async throws -> Bool {
        stored.withLock { all in
            guard let index = all.firstIndex(where: { $0.subscription.id == subscription.id && $0.owner == owner }) else { return false }
            all[index].subscription = subscription
            return true
        }
    }

    public func delete(id: String, owner: String) async throws -> Bool {
        stored.withLock { all in
            guard let index = all.firstIndex(where: { $0.subscription.id == id && $0.owner == owner }) else { return false }
            all.remove(at: index)
            return true
        }
    }
}
