import Access
import Synchronization

/// Tokens and their clients in memory, for tests of the routes without the clients table. A token removed with
/// `revoke` stops working at once (the caching authenticator over the table takes up to its TTL).
public final class InMemoryClientAuthenticator: ClientAuthenticator {
    private let clients: Mutex<[String: ClientIdentity]>

    public init(_ clients: [String: ClientIdentity] = [:]) { self.clients = Mutex(clients) }

    public func identity(token: String) async throws -> ClientIdentity? { clients.withLock { $0[token] } }

    public func issue(_ token: String, to client: ClientIdentity) { clients.withLock { $0[token] = client } }

    public func revoke(_ token: String) { clients.withLock { $0[token] = nil } }
}
