import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// A fixed set of connections, each with its own serial queue, so that libpq's blocking calls never run on
/// Swift's cooperative threads. Connections open lazily and are replaced after they break.
///
/// A `Service`: run it in the service group before the services that use it (a group stops in reverse order),
/// and on graceful shutdown it waits for the connections in use to come back, closes them all and refuses
/// later work.
public final class PostgresPool: Service, Sendable {
    public let url: String
    public let size: Int
    private let logger: Logger
    private let observer: StatementObserver?
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
        var shutDown = false
    }

    /// `observer` sees every parameterized statement the pool's connections run (benchmarks; nil in production).
    public init(url: String, size: Int, logger: Logger, observer: StatementObserver? = nil) {
        precondition(size > 0, "a pool needs at least one connection")
        self.url = url
        self.size = size
        self.logger = logger
        self.observer = observer
        let slots = (0..<size).map { Slot(label: "postgres.connection.\($0)") }
        state = Mutex(State(idle: slots))
    }

    /// Runs `body` with a connection on that connection's own thread.
    @discardableResult
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        guard !isShutDown else {
            throw PostgresError(kind: .connection, message: "the connection pool is shut down")
        }
        let slot = await acquire()
        defer { release(slot) }
        let url = self.url
        let observer = self.observer
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                do {
                    let connection: PostgresConnection
                    if let existing = slot.connection, existing.isOpen {
                        connection = existing
                    } else {
                        slot.connection = nil
                        connection = try PostgresConnection(url: url, observer: observer)
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

    public var isShutDown: Bool { state.withLock { $0.shutDown } }

    /// Waits for graceful shutdown, then shuts the pool down.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutDown()
    }

    /// Refuses new work, waits (a bounded time) for the connections in use to come back, and closes every
    /// connection.
    public func shutDown(waitingAtMost limit: Duration = .seconds(10)) async {
        state.withLock { $0.shutDown = true }
        let deadline = ContinuousClock.now + limit
        while state.withLock({ $0.idle.count < size }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        closeIdleConnections()
        logger.debug("connection pool shut down", metadata: ["connections": "\(size)"])
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
