import Foundation

/// Commands of Mosquitto's dynamic-security plugin (`$CONTROL/dynamic-security/v1`), as JSON, and the parsing of
/// its answers. Pure: the broker connection is `BrokerControl`'s.
///
/// Each provisioned device gets a client (user name = device id, bound to the client id = device id) with a role
/// of its own whose ACL lets it publish only below `devices/<id>/` and subscribe only to `commands/<id>/#`, and
/// renew its certificate on `certificates/<id>/request` (answer on `certificates/<id>/response`).
public enum DynamicSecurityCommand {
    public static let topic = "$CONTROL/dynamic-security/v1"
    public static let responseTopic = "$CONTROL/dynamic-security/v1/response"

    public static func roleName(_ deviceId: String) -> String { "device-\(deviceId)" }

    public static func createDeviceRole(_ deviceId: String) -> [String: Any] {
        ["command": "createRole", "rolename": roleName(deviceId),
         "textname": "ACL of device \(deviceId)",
         "acls": [
            ["acltype": "publishClientSend", "topic": "devices/\(deviceId)/#", "priority": 0, "allow": true],
            ["acltype": "subscribePattern", "topic": "commands/\(deviceId)/#", "priority": 0, "allow": true],
            ["acltype": "publishClientReceive", "topic": "commands/\(deviceId)/#", "priority": 0, "allow": true],
            // Certificate renewal: the request is the device's own (only this account may publish it), the answer
            // only this account may read.
            ["acltype": "publishClientSend", "topic": "certificates/\(deviceId)/request", "priority": 0, "allow": true],
            ["acltype": "subscribePattern", "topic": "certificates/\(deviceId)/response", "priority": 0, "allow": true],
            ["acltype": "publishClientReceive", "topic": "certificates/\(deviceId)/response", "priority": 0, "allow": true],
         ]]
    }

    public static func createDeviceClient(_ deviceId: String, password: String) -> [String: Any] {
        ["command": "createClient", "username": deviceId, "password": password, "clientid": deviceId,
         "textname": "device \(deviceId)", "roles": [["rolename": roleName(deviceId), "priority": 0]]]
    }

    /// The reserved account or role a batch of commands would touch, if any (`ReservedNames`). The gateway only
    /// ever administers device clients and `device-<id>` roles; a command naming a fixed account (user name) or
    /// a fixed role, or a device role of a reserved id, must never reach the broker, whoever built it.
    public static func reservedTarget(_ commands: [[String: Any]]) -> String? {
        for command in commands {
            if let username = command["username"] as? String, ReservedNames.isReserved(username) {
                return "user name \(username)"
            }
            var roles: [String] = []
            if let role = command["rolename"] as? String { roles.append(role) }
            if let list = command["roles"] as? [[String: Any]] { roles += list.compactMap { $0["rolename"] as? String } }
            for role in roles {
                let lowered = role.lowercased()
                if ReservedNames.roles.contains(lowered) || ReservedNames.isReserved(role) { return "role \(role)" }
                if lowered.hasPrefix("device-"), ReservedNames.isReserved(String(role.dropFirst("device-".count))) {
                    return "role \(role)"
                }
            }
        }
        return nil
    }

    public static func deleteClient(_ deviceId: String) -> [String: Any] {
        ["command": "deleteClient", "username": deviceId]
    }

    public static func deleteRole(_ deviceId: String) -> [String: Any] {
        ["command": "deleteRole", "rolename": roleName(deviceId)]
    }

    public static func disableClient(_ deviceId: String) -> [String: Any] {
        ["command": "disableClient", "username": deviceId]
    }

    public static func enableClient(_ deviceId: String) -> [String: Any] {
        ["command": "enableClient", "username": deviceId]
    }

    public static func encode(_ commands: [[String: Any]]) -> [UInt8] {
        let data = (try? JSONSerialization.data(withJSONObject: ["commands": commands], options: [.sortedKeys])) ?? Data()
        return Array(data)
    }

    /// One answer per command, in order: the command name and its error (nil: done).
    public struct Response: Sendable, Equatable {
        public var command: String
        public var error: String?

        public init(command: String, error: String?) {
            self.command = command
            self.error = error
        }

        /// Errors that mean "already so": creating what exists, deleting what is gone.
        public var isAlreadyDone: Bool {
            guard let error = error?.lowercased() else { return true }
            return error.contains("already exists") || error.contains("not found")
        }
    }

    public static func parseResponses(_ payload: [UInt8]) -> [Response]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let responses = object["responses"] as? [[String: Any]] else { return nil }
        return responses.map { Response(command: $0["command"] as? String ?? "", error: $0["error"] as? String) }
    }
}

/// What the gateway asks of the broker when a device's lifecycle state changes.
public protocol BrokerAccess: Sendable {
    /// Makes the broker enforce `state`: provisioned/active → client enabled, suspended → disabled (connection
    /// dropped, reconnects refused), decommissioned → client and role deleted. Registered devices have no client.
    func enforce(_ state: LifecycleState, deviceId: String) async throws
}

/// The broker refused or did not answer.
public struct BrokerError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
