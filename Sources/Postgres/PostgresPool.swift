import Dispatch
import Logging
import Synchronization

/// A fixed set of connections, each with its own serial queue, so that libpq's blocking calls never run on
/// Swift's cooperative threads. Connections open lazily and are replaced after they break.
public final class PostgresPool: Sendable {
    public let url: String
    private let logger: Logger
    private let state: Mutex<State>

    private final class Slot: @unchecked Sendable {
        // Touched only on `queue`.
        var connection: PostgresConnection?
        let queue: DispatchQueue
        init(label: String) { queue = DispatchQueue(label: label) }
    }

    private struct State: ~Copyable {
        var idle: [Slot]
        var waiters: [CheckedContinuation<Slot, Never>] = []
    }

    public init(url: String, size: Int, logger: Logger) {
        precondition(size > 0, "a pool needs at least one connection")
        self.url = url
        self.logger = logger
        let slots = (0..<size).map { Slot(label: "postgres.connection.\($0)") }
        state = Mutex(State(idle: slots))
    }

    /// Runs `body` with a connection on that connection's own thread.
    @discardableResult
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let slot = await acquire()
        defer { release(slot) }
        let url = self.url
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                do {
                    let connection: PostgresConnection
                    if let existing = slot.connection, existing.isOpen {
                        connection = existing
                    } else {
                        slot.connection = nil
                        connection = try PostgresConnection(url: url)
                        slot.connection = connection
                    }
                    continuation.resume(returning: try body(connection))
                } catch {
                    if let error = error as? PostgresError, error.kind == .connection {
                        slot.connection?.close()
                        slot.connection = nil
                    }
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Closes idle connections; later calls open new ones.
    public func closeIdleConnections() {
        let slots = state.withLock { $0.idle }
        for slot in slots {
            slot.queue.sync {
                slot.connection?.close()
                slot.connection = nil
            }
        }
    }

    private func acquire() async -> Slot {
        await withCheckedContinuation { (continuation: CheckedContinuation<Slot, Never>) in
            let slot: Slot? = state.withLock { state in
                if let slot = state.idle.popLast() { return slot }
                state.waiters.append(continuation)
                return nil
            }
            if let slot { continuation.resume(returning: slot) }
        }
    }

    private func release(_ slot: Slot) {
        let waiter: CheckedContinuation<Slot, Never>? = state.withLock { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(slot)
            return nil
        }
        waiter?.resume(returning: slot)
    }
}

/// Runs a blocking libpq call on `queue`, off Swift's cooperative pool (for services that own a dedicated
/// connection, such as listeners).
public func runBlocking<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        queue.async { continuation.resume(with: Result { try body() }) }
    }
}
