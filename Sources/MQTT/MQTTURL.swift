/// Where the broker is: `mqtt://host:port` (1883 by default) or, over TLS, `mqtts://host:port` (8883 by default;
/// the broker's certificate must name `host`).
public struct MQTTURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var tls: Bool

    /// `host:port`, as a subscription's MQTT endpoint names the broker.
    public var authority: String { "\(host):\(port)" }

    public init(host: String, port: Int, tls: Bool = false) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    public init(parsing text: String) throws(MQTTError) {
        func invalid(_ why: String) -> MQTTError {
            MQTTError(code: -1, message: "invalid MQTT_URL \"\(text)\": \(why)", operation: "configure")
        }
        guard let schemeEnd = text.range(of: "://") else { throw invalid("expected mqtt://host:port or mqtts://host:port") }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "mqtt" || scheme == "mqtts" else { throw invalid("unknown scheme \(scheme)") }
        tls = scheme == "mqtts"
        var rest = text[schemeEnd.upperBound...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard !rest.isEmpty else { throw invalid("missing host") }
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw invalid("port must be a number from 1 to 65535")
            }
            host = String(rest[..<colon])
            self.port = port
        } else {
            host = String(rest)
            port = tls ? 8883 : 1883
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    }

    public var description: String { "\(tls ? "mqtts" : "mqtt")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}
