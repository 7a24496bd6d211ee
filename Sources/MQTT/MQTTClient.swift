import CMosquitto
import Foundation
import Logging
import Synchronization

/// A message as it arrived from the broker.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retained: Bool
}

/// A client over libmosquitto's threaded network loop. libmosquitto reconnects by itself; subscriptions are
/// renewed on every connect.
///
/// `onMessage` runs on libmosquitto's network thread. For QoS 1, the broker learns that a message was received
/// only after `onMessage` returns (libmosquitto writes the PUBACK then), so a durable write inside it is what
/// makes "acknowledged" mean "kept".
public final class MQTTClient: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var url: MQTTURL
        public var clientID: String
        /// false: the broker keeps our subscriptions and queues QoS 1 messages while we are away.
        public var cleanSession: Bool
        public var username: String?
        public var password: String?
        public var keepAlive: Int32 = 30
        /// Sends each packet at once. Off for a receiver under load: its acknowledgements then share TCP segments.
        public var tcpNoDelay = true
        /// Topic filters (QoS) subscribed after every connect.
        public var subscriptions: [(filter: String, qos: Int32)] = []
        /// A last will: (topic, payload, qos, retain).
        public var will: (topic: String, payload: [UInt8], qos: Int32, retain: Bool)?
        /// For `mqtts://`: the CA that signed the broker's certificate (nil: the system's trust store), and a client
        /// certificate and key for a listener that asks for one.
        public var tls = TLS()

        public struct TLS: Sendable, Equatable {
            public var caFile: String?
            public var certificateFile: String?
            public var keyFile: String?

            public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
                self.caFile = caFile
                self.certificateFile = certificateFile
                self.keyFile = keyFile
            }
        }

        public init(url: MQTTURL, clientID: String, cleanSession: Bool = true,
                    username: String? = nil, password: String? = nil) {
            self.url = url
            self.clientID = clientID
            self.cleanSession = cleanSession
            self.username = username
            self.password = password
        }
    }

    /// Connection state; what `/readyz` reports.
    public enum ConnectionState: Sendable, Equatable {
        case connecting
        case connected
        case disconnected(reason: String)
    }

    public let configuration: Configuration
    private let logger: Logger
    private var handle: OpaquePointer?
    private let onMessage: @Sendable (MQTTMessage) -> Void
    private let stateBox = Mutex<ConnectionState>(.connecting)
    /// Outstanding QoS>0 publishes, so publishers can bound their window and wait for acknowledgement.
    private let inflight = NSCondition()
    private var inflightCount = 0
    /// A waiting publisher is woken when the window has drained to this many, not on every acknowledgement:
    /// one wake-up per half window instead of one per message.
    private var wakeAtOrBelow = Int.max
    private var started = false

    private static let libraryInit: Void = { mosquitto_lib_init() }()

    public init(
        configuration: Configuration,
        logger: Logger,
        onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in }
    ) throws(MQTTError) {
        _ = Self.libraryInit
        self.configuration = configuration
        self.logger = logger
        self.onMessage = onMessage
        guard let mosq = mosquitto_new(configuration.clientID, configuration.cleanSession, nil) else {
            throw MQTTError(code: Int32(errno), message: String(cString: strerror(errno)), operation: "create client")
        }
        handle = mosq
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        try check(mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311)), "set protocol")
        try check(mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, configuration.tcpNoDelay ? 1 : 0), "set TCP_NODELAY")
        // Outgoing QoS 1 window: libmosquitto searches its in-flight list linearly, so keep it in the hundreds.
        try check(mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, 500), "set send maximum")
        if let username = configuration.username {
            try check(mosquitto_username_pw_set(mosq, username, configuration.password), "set credentials")
        }
        if let will = configuration.will {
            let rc = will.payload.withUnsafeBytes {
                mosquitto_will_set(mosq, will.topic, Int32($0.count), $0.baseAddress, will.qos, will.retain)
            }
            try check(rc, "set last will")
        }
        if configuration.url.tls { try configureTLS(mosq, configuration.tls) }
        try check(mosquitto_reconnect_delay_set(mosq, 1, 10, true), "set reconnect delay")
        mosquitto_connect_callback_set(mosq) { _, context, rc in
            MQTTClient.from(context).didConnect(rc: rc)
        }
        mosquitto_disconnect_callback_set(mosq) { _, context, rc in
            MQTTClient.from(context).didDisconnect(rc: rc)
        }
        mosquitto_message_callback_set(mosq) { _, context, message in
            guard let message else { return }
            MQTTClient.from(context).didReceive(message.pointee)
        }
        mosquitto_publish_callback_set(mosq) { _, context, _ in
            MQTTClient.from(context).didCompletePublish()
        }
        // libmosquitto's own errors say why a connection fails before the broker answers (a TLS handshake: the
        // broker's certificate not trusted or not naming the host), which no other callback reports.
        mosquitto_log_callback_set(mosq) { _, context, level, text in
            guard level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0, let text else { return }
            MQTTClient.from(context).logger.warning("libmosquitto: \(String(cString: text))",
                                                     metadata: ["broker": "\(MQTTClient.from(context).configuration.url)"])
        }
    }

    /// TLS 1.2 or later, the broker's certificate verified and its name checked against the URL's host
    /// (libmosquitto checks the name unless told to be insecure, which this client never is).
    private func configureTLS(_ mosq: OpaquePointer, _ tls: Configuration.TLS) throws(MQTTError) {
        guard (tls.certificateFile == nil) == (tls.keyFile == nil) else {
            throw MQTTError(code: -1, message: "a client certificate needs its key, and a key its certificate", operation: "configure TLS")
        }
        for file in [tls.caFile, tls.certificateFile, tls.keyFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: file) {
            throw MQTTError(code: -1, message: "cannot read \(file)", operation: "configure TLS")
        }
        if tls.caFile == nil {
            try check(mosquitto_tls_set(mosq, nil, "/etc/ssl/certs", tls.certificateFile, tls.keyFile, nil), "set TLS")
        } else {
            try check(mosquitto_tls_set(mosq, tls.caFile, nil, tls.certificateFile, tls.keyFile, nil), "set TLS")
        }
        try check(mosquitto_tls_opts_set(mosq, 1, "tlsv1.2", nil), "set TLS options")
        try check(mosquitto_tls_insecure_set(mosq, false), "require the broker's name in its certificate")
    }

    deinit {
        if let handle {
            if started { mosquitto_loop_stop(handle, true) }
            mosquitto_destroy(handle)
        }
    }

    public var state: ConnectionState { stateBox.withLock { $0 } }
    public var isConnected: Bool { state == .connected }

    /// Starts the network thread and connects in the background; libmosquitto keeps reconnecting.
    public func start() throws(MQTTError) {
        guard let handle, !started else { return }
        let rc = mosquitto_connect_async(handle, configuration.url.host, Int32(configuration.url.port),
                                         configuration.keepAlive)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            // Not fatal: the network loop keeps reconnecting, so a broker that starts later is found.
            let reason = rc == MOSQ_ERR_ERRNO.rawValue ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(rc))
            stateBox.withLock { $0 = .disconnected(reason: reason) }
            logger.warning("MQTT broker not reachable yet; retrying", metadata: ["broker": "\(configuration.url)", "reason": "\(reason)"])
        }
        try check(mosquitto_loop_start(handle), "start network loop")
        started = true
    }

    /// Connects and waits until the broker accepted us, or throws after `timeout` seconds.
    public func connect(timeout: Double = 10) throws(MQTTError) {
        try start()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if case .connected = state { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
        throw MQTTError(code: -1, message: "no connection to \(configuration.url) within \(timeout) s (\(state))",
                        operation: "connect")
    }

    /// Disconnects cleanly (no last will) and stops the network thread after queued packets are written.
    public func stop() {
        guard let handle, started else { return }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        started = false
        stateBox.withLock { $0 = .disconnected(reason: "stopped") }
    }

    /// Queues a message; with `qos` > 0, waits while `window` publishes are still unacknowledged.
    public func publish(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false,
                        window: Int = 200) throws(MQTTError) {
        guard let handle else { throw MQTTError(code: -1, message: "client destroyed", operation: "publish") }
        if qos > 0 {
            inflight.lock()
            if inflightCount >= window {
                wakeAtOrBelow = window / 2
                while inflightCount > window / 2 { inflight.wait() }
                wakeAtOrBelow = Int.max
            }
            inflightCount += 1
            inflight.unlock()
        }
        let rc = payload.withUnsafeBytes {
            mosquitto_publish(handle, nil, topic, Int32($0.count), $0.baseAddress, qos, retain)
        }
        if rc != MOSQ_ERR_SUCCESS.rawValue, qos > 0 { didCompletePublish() }
        try check(rc, "publish to \(topic)")
    }

    /// Waits until every QoS>0 publish was acknowledged; false on timeout.
    @discardableResult
    public func waitForAcknowledgements(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        inflight.lock()
        defer {
            wakeAtOrBelow = Int.max
            inflight.unlock()
        }
        wakeAtOrBelow = 0
        while inflightCount > 0 {
            if !inflight.wait(until: deadline) { return inflightCount == 0 }
        }
        return true
    }

    // MARK: - Callbacks from the network thread

    private static func from(_ context: UnsafeMutableRawPointer?) -> MQTTClient {
        Unmanaged<MQTTClient>.fromOpaque(context!).takeUnretainedValue()
    }

    private func didConnect(rc: Int32) {
        guard rc == 0 else {
            let reason = String(cString: mosquitto_connack_string(rc))
            stateBox.withLock { $0 = .disconnected(reason: reason) }
            logger.error("MQTT connection refused", metadata: ["reason": "\(reason)"])
            return
        }
        stateBox.withLock { $0 = .connected }
        logger.info("MQTT connected", metadata: ["broker": "\(configuration.url)", "client": "\(configuration.clientID)"])
        for subscription in configuration.subscriptions {
            let rc = mosquitto_subscribe(handle, nil, subscription.filter, subscription.qos)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                logger.error("MQTT subscribe failed", metadata: [
                    "filter": "\(subscription.filter)", "error": "\(String(cString: mosquitto_strerror(rc)))",
                ])
            }
        }
    }

    private func didDisconnect(rc: Int32) {
        let reason = rc == 0 ? "disconnected by client" : String(cString: mosquitto_strerror(rc))
        stateBox.withLock { $0 = .disconnected(reason: reason) }
        if rc != 0 { logger.warning("MQTT connection lost; reconnecting", metadata: ["reason": "\(reason)"]) }
    }

    private func didReceive(_ message: mosquitto_message) {
        let topic = String(cString: message.topic)
        let count = Int(message.payloadlen)
        let payload: [UInt8] = count > 0 && message.payload != nil
            ? Array(UnsafeRawBufferPointer(start: message.payload, count: count))
            : []
        onMessage(MQTTMessage(topic: topic, payload: payload, qos: Int(message.qos), retained: message.retain))
    }

    private func didCompletePublish() {
        inflight.lock()
        inflightCount = max(0, inflightCount - 1)
        if inflightCount <= wakeAtOrBelow { inflight.broadcast() }
        inflight.unlock()
    }

    private func check(_ rc: Int32, _ operation: String) throws(MQTTError) {
        guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
        let message = rc == MOSQ_ERR_ERRNO.rawValue ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(rc))
        throw MQTTError(code: rc, message: message, operation: operation)
    }
}
