/// Where notifications may go (deny by default): HTTP(S) endpoints only on hosts the operator allowed
/// (`--notification-hosts`: `host` or `host:port`, `*` for any), MQTT endpoints only on the city broker the gateway
/// administers, under `ngsi-ld/notifications/`. Checked when a subscription is made and again before each delivery,
/// so that a host taken off the list gets nothing more.
public struct NotificationEndpoints: Sendable, Equatable {
    public var allowedHosts: Set<String>
    /// `host:port` of the city broker when the gateway can publish there; nil: no MQTT notifications.
    public var broker: String?

    public init(allowedHosts: some Sequence<String>, broker: String?) {
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
        self.broker = broker?.lowercased()
    }

    public static let none = NotificationEndpoints(allowedHosts: [], broker: nil)

    /// nil when the endpoint may be used, else why not.
    public func refusal(_ endpoint: Subscription.Endpoint) -> String? {
        switch endpoint.scheme {
        case .mqtt:
            guard let broker else { return "MQTT notifications are not offered by this gateway (it does not publish to the broker)" }
            let host = endpoint.authority.split(separator: ":").first.map(String.init) ?? endpoint.authority
            let brokerHost = broker.split(separator: ":").first.map(String.init) ?? broker
            guard endpoint.authority == broker || (endpoint.authority == host && host == brokerHost) else {
                return "MQTT notifications go to the city broker only: mqtt://\(broker)/\(NotificationTopics.prefix)<name>"
            }
            return nil
        case .http, .https:
            let host = endpoint.authority.split(separator: ":").first.map(String.init) ?? endpoint.authority
            if allowedHosts.contains("*") || allowedHosts.contains(endpoint.authority) || allowedHosts.contains(host) { return nil }
            return "notifications to \(endpoint.authority) are not allowed by this gateway's operator (--notification-hosts)"
        }
    }
}

/// How long a failed notification waits before its next attempt: doubling from 1 s to 10 min.
public enum NotificationBackoff {
    public static func delayMicros(afterAttempts attempts: Int) -> Int64 {
        let seconds = min(600, 1 << min(max(attempts, 0), 10))
        return Int64(seconds) * 1_000_000
    }
}
