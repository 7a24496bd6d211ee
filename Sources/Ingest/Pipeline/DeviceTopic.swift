import Models

/// The device topic scheme: `devices/<deviceId>/<channel>`.
public struct DeviceTopic: Sendable, Equatable {
    public enum Channel: String, Sendable, CaseIterable {
        /// Measurements (SenML).
        case telemetry
        /// Alarms and device events (SenML).
        case events
        /// online/offline and heartbeats; usable as a last will (`online`, `offline` or SenML).
        case status
    }

    public var deviceID: String
    public var channel: Channel

    /// The filters the gateway subscribes to: the whole `devices/` tree, so that a device publishing outside the
    /// scheme gets a dead letter that says so instead of silence.
    public static let subscriptions = ["devices/#"]

    public init(deviceID: String, channel: Channel) {
        self.deviceID = deviceID
        self.channel = channel
    }

    /// Parses a topic, or says precisely why it is outside the scheme.
    public static func parse(_ topic: String) -> Result<DeviceTopic, TopicError> {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "devices" else {
            return .failure(TopicError(reason: "topic \"\(topic)\" is outside the scheme devices/<deviceId>/{telemetry,events,status}"))
        }
        guard DeviceID.isValid(parts[1]) else {
            return .failure(TopicError(reason: "device id \"\(parts[1])\" must be 1 to 128 characters of A-Z a-z 0-9 - _ . :"))
        }
        guard let channel = Channel(rawValue: String(parts[2])) else {
            return .failure(TopicError(reason: "unknown channel \"\(parts[2])\"; expected telemetry, events or status"))
        }
        return .success(DeviceTopic(deviceID: String(parts[1]), channel: channel))
    }

    public var topic: String { "devices/\(deviceID)/\(channel.rawValue)" }
}

public struct TopicError: Error, Sendable, Equatable {
    public var reason: String
}
