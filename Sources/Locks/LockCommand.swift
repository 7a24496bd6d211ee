import Foundation
import Models

/// What a remote command asks of a lock.
public enum CommandAction: String, Sendable, Codable, CaseIterable {
    case unlock, lock
}

/// Where a command stands. `refused` never reached the lock; `pending` is published (or about to be) and waits for
/// the lock's answer until it expires; the other three are final.
public enum CommandStatus: String, Sendable, Codable, CaseIterable {
    case refused, pending, succeeded, failed, expired

    public var isFinal: Bool { self != .pending }
}

/// A remote unlock or lock for a staff member, as requested and as it ended.
public struct LockCommand: Sendable, Equatable {
    public var id: String
    public var deviceId: String
    public var action: CommandAction
    public var staffRef: String
    public var requestedBy: String
    public var requestedAtMicros: Int64
    public var expiresAtMicros: Int64
    /// The grant that allowed it; nil for a refusal.
    public var grantId: Int64?
    public var status: CommandStatus
    /// Why it was refused, or the lock's reason for a failure, or why it expired.
    public var reason: String?
    public var publishedAtMicros: Int64?
    public var finishedAtMicros: Int64?

    public init(id: String, deviceId: String, action: CommandAction, staffRef: String, requestedBy: String,
                requestedAtMicros: Int64, expiresAtMicros: Int64, grantId: Int64?, status: CommandStatus,
                reason: String? = nil, publishedAtMicros: Int64? = nil, finishedAtMicros: Int64? = nil) {
        self.id = id
        self.deviceId = deviceId
        self.action = action
        self.staffRef = staffRef
        self.requestedBy = requestedBy
        self.requestedAtMicros = requestedAtMicros
        self.expiresAtMicros = expiresAtMicros
        self.grantId = grantId
        self.status = status
        self.reason = reason
        self.publishedAtMicros = publishedAtMicros
        self.finishedAtMicros = finishedAtMicros
    }

    /// A fresh command id: 128 random bits as a UUID, so nobody can guess another home's command.
    public static func newID() -> String { UUID().uuidString.lowercased() }

    /// The topic the lock reads its commands on (its broker account may subscribe to `commands/<id>/#` only).
    public var topic: String { "commands/\(deviceId)/lock" }

    /// What the lock receives: the id to answer with, the action, whose visit it is for, and when it goes stale (a
    /// lock that was offline longer must not act on it).
    public var payload: [UInt8] {
        let body: [String: String] = [
            "id": id, "action": action.rawValue, "staffRef": staffRef,
            "expiresAt": RFC3339.format(micros: expiresAtMicros, fractionDigits: 0),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(body)) ?? Data())
    }
}

/// The lock's answer to a command, from its `command_result` event.
public struct CommandAnswer: Sendable, Equatable {
    public var commandId: String
    public var deviceId: String
    public var succeeded: Bool
    public var reason: String?
    public var atMicros: Int64

    public init(commandId: String, deviceId: String, succeeded: Bool, reason: String?, atMicros: Int64) {
        self.commandId = commandId
        self.deviceId = deviceId
        self.succeeded = succeeded
        self.reason = reason
        self.atMicros = atMicros
    }
}

/// Storage of commands (table `lock_commands`).
public protocol CommandRepository: Sendable {
    /// Stores a new command (pending or refused).
    func insert(_ command: LockCommand) async throws
    func command(_ id: String) async throws -> LockCommand?
    /// Pending commands not yet handed to the broker and not expired, oldest first.
    func unpublished(nowMicros: Int64, limit: Int) async throws -> [LockCommand]
    func markPublished(_ id: String, atMicros: Int64) async throws
    /// Ends pending commands past their expiry; the number ended.
    func expireDue(nowMicros: Int64) async throws -> Int
    /// Ends a pending command of that device with the lock's answer; false when there is none (unknown id,
    /// another lock's command, already final).
    func answer(_ answer: CommandAnswer) async throws -> Bool
    /// The commands of one lock requested in `from ..< to`, oldest first.
    func commands(deviceId: String, fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [LockCommand]
}

/// Commands in memory, for router tests.
public actor InMemoryCommandRepository: CommandRepository {
    private var stored: [String: LockCommand] = [:]

    public init() {}

    public func insert(_ command: LockCommand) {
        stored[command.id] = command
    }

    public func command(_ id: String) -> LockCommand? { stored[id] }

    public func unpublished(nowMicros: Int64, limit: Int) -> [LockCommand] {
        Array(stored.values.filter { $0.status == .pending && $0.publishedAtMicros == nil && $0.expiresAtMicros > nowMicros }
            .sorted { $0.requestedAtMicros < $1.requestedAtMicros }.prefix(limit))
    }

    public func markPublished(_ id: String, atMicros: Int64) {
        if stored[id]?.publishedAtMicros == nil { stored[id]?.publishedAtMicros = atMicros }
    }

    public func expireDue(nowMicros: Int64) -> Int {
        var count = 0
        for (id, command) in stored where command.status == .pending && command.expiresAtMicros <= nowMicros {
            stored[id]?.status = .expired
            stored[id]?.reason = "no answer from the lock before the command expired"
            stored[id]?.finishedAtMicros = nowMicros
            count += 1
        }
        return count
    }

    public func answer(_ answer: CommandAnswer) -> Bool {
        guard let command = stored[answer.commandId], command.deviceId == answer.deviceId, command.status == .pending else {
            return false
        }
        stored[answer.commandId]?.status = answer.succeeded ? .succeeded : .failed
        stored[answer.commandId]?.reason = answer.reason
        stored[answer.commandId]?.finishedAtMicros = answer.atMicros
        return true
    }

    public func commands(deviceId: String, fromMicros: Int64, toMicros: Int64, limit: Int) -> [LockCommand] {
        Array(stored.values.filter { $0.deviceId == deviceId && $0.requestedAtMicros >= fromMicros && $0.requestedAtMicros < toMicros }
            .sorted { $0.requestedAtMicros < $1.requestedAtMicros }.prefix(limit))
    }
}
