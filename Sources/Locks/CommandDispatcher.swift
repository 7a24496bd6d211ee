import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Hands pending commands to the broker (QoS 1, the lock's command topic) and ends those whose time ran out. A
/// command is stored before it is published and marked published only once the broker acknowledged it, so a
/// gateway killed in between publishes it again after the restart (the lock knows it by its id and acts once).
public final class CommandDispatcher: Service, Sendable {
    /// Publishes to the broker and returns when the broker acknowledged (or throws).
    public typealias Publish = @Sendable (_ topic: String, _ payload: [UInt8]) async throws -> Void

    let commands: any CommandRepository
    let publish: Publish
    let clock: @Sendable () -> Int64
    let logger: Logger
    let interval: Duration
    /// Wake-ups: a stored command or the ticker; one buffered is enough (a round handles everything waiting).
    private let wakes: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    let published = Counter(label: "cip_lock_commands_published_total")
    let expired = Counter(label: "cip_lock_commands_expired_total")

    public init(commands: any CommandRepository, publish: @escaping Publish, clock: @escaping @Sendable () -> Int64 = systemMicros,
                interval: Duration = .milliseconds(500), logger: Logger) {
        self.commands = commands
        self.publish = publish
        self.clock = clock
        self.interval = interval
        self.logger = logger
        (wakes, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// A command was stored: publish it now rather than at the next tick.
    public func signal() { wakeContinuation.yield() }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        self.wakeContinuation.yield()
                        try await Task.sleep(for: self.interval)
                    }
                }
                for await _ in self.wakes {
                    if Task.isCancelled { break }
                    await self.tick()
                }
                group.cancelAll()
            }
        }
    }

    /// Commands whose publish failed, and when to try each again: one that fails never holds the others back,
    /// and is not resent every half second while the broker is slow.
    private let retryAt = Mutex<[String: Int64]>([:])
    static let retryDelayMicros: Int64 = 5_000_000

    /// One round: expire what is due, publish what waits. Errors are logged; the next round tries again.
    public func tick() async {
        let waiting: [LockCommand]
        do {
            let ended = try await commands.expireDue(nowMicros: clock())
            if ended > 0 { expired.increment(by: ended) }
            waiting = try await commands.unpublished(nowMicros: clock(), limit: 100)
        } catch {
            logger.warning("lock commands could not be read; will retry", metadata: ["error": "\(error)"])
            return
        }
        let now = clock()
        let held = retryAt.withLock { retry in
            retry = retry.filter { id, at in at > now && waiting.contains { $0.id == id } }
            return retry
        }
        for command in waiting where held[command.id] == nil {
            do {
                try await publish(command.topic, command.payload)
                try await commands.markPublished(command.id, atMicros: clock())
                published.increment()
            } catch {
                retryAt.withLock { $0[command.id] = clock() + Self.retryDelayMicros }
                logger.warning("a lock command could not be published; will retry", metadata: [
                    "command": "\(command.id)", "device": "\(command.deviceId)", "error": "\(error)"])
            }
        }
    }
}
