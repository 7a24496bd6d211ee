import Foundation

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
            let host = Self.host(of: endpoint.authority)
            if allowedHosts.contains(endpoint.authority) || allowedHosts.contains(host) { return nil }
            if allowedHosts.contains("*") {
                // An address written in the URL is judged now; a name when it is resolved, before each delivery.
                if AddressRanges.isPublic(host) == false { return "\(host) is not a public address; only a host named in --notification-hosts may be one" }
                return nil
            }
            return "notifications to \(endpoint.authority) are not allowed by this gateway's operator (--notification-hosts)"
        }
    }
}

extension NotificationEndpoints {
    /// Whether the endpoint's host is allowed only through `*` (not named): then it must be a public address, so that
    /// `*` never reaches the gateway's own machine, its network or a cloud's metadata service.
    public func needsPublicAddress(_ endpoint: Subscription.Endpoint) -> Bool {
        let host = Self.host(of: endpoint.authority)
        return !(allowedHosts.contains(endpoint.authority) || allowedHosts.contains(host))
    }

    static func host(of authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") { return String(authority[authority.index(after: authority.startIndex)..<end]) }
        return authority.split(separator: ":").first.map(String.init) ?? authority
    }
}

/// Address ranges a notification through `*` must not reach: loopback, link-local (cloud metadata), private,
/// shared (carrier-grade NAT), unspecified, multicast, and their IPv6 counterparts.
public enum AddressRanges {
    /// nil when `text` is no IPv4 or IPv6 address.
    public static func isPublic(_ text: String) -> Bool? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let a = UInt32(bigEndian: v4.s_addr)
            let first = a >> 24, second = (a >> 16) & 0xFF
            if first == 0 || first == 10 || first == 127 || first >= 224 { return false }
            if first == 169 && second == 254 { return false }
            if first == 172 && (16...31).contains(second) { return false }
            if first == 192 && second == 168 { return false }
            if first == 100 && (64...127).contains(second) { return false }
            return true
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes.allSatisfy({ $0 == 0 }) || (bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1) { return false }  // :: and ::1
        if bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80 { return false }  // fe80::/10
        if (bytes[0] & 0xFE) == 0xFC { return false }  // fc00::/7
        if bytes[0] == 0xFF { return false }  // multicast
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {  // ::ffff:a.b.c.d
            return isPublic("\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])")
        }
        return true
    }
}

/// How long a failed notification waits before its next attempt: doubling from 1 s to 10 min.
public enum NotificationBackoff {
    public static func delayMicros(afterAttempts attempts: Int) -> Int64 {
        let seconds = min(600, 1 << min(max(attempts, 0), 10))
        return Int64(seconds) * 1_000_000
    }
}
