import ArgumentParser
import Composition
import Foundation
import Synchronization
import Logging
import Models
import MQTT

/// `cip-bench simulate`: a small demo fleet of care devices publishing over MQTT, as real ones would.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a demo fleet: digital locks, GPS alarms, safety alarms and room sensors.")

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Devices of each kind.")
    var devicesPerKind: Int = 4

    @Option(help: "Seconds between two messages of one device.")
    var interval: Double = 5

    @Option(help: "Stop after this many seconds (default: run until interrupted).")
    var duration: Double?

    @Option(help: "Every Nth round one device sends a malformed message, to show dead letters (0: never).")
    var malformedEvery: Int = 20

    @Option(help: "Claim codes (the report of `devices import`): devices found here onboard themselves over MQTT first.")
    var claims: String?

    @Option(help: "Where onboarded devices keep their own broker accounts between runs.")
    var credentials: String = ".stack/demo-fleet-credentials.json"

    func run() async throws {
        Observability.bootstrapLogging()
        let logger = Logger(label: "cip.simulate")
        let fleet = DemoFleet.make(perKind: devicesPerKind)
        let accounts = try onboardFleet(fleet, logger: logger)
        var clients: [(DemoDevice, MQTTClient)] = []
        for device in fleet {
            var configuration = try broker.bridgeConfiguration(clientID: "demo-\(device.id)")
            if let account = accounts[device.id] {
                // Its own broker account, as a real device after onboarding: a lock also reads its commands, with a
                // session the broker keeps, so a command sent while it was away arrives when it is back.
                configuration.clientID = device.id
                configuration.username = account.username
                configuration.password = account.password
                if device.kind == .lock {
                    configuration.cleanSession = false
                    configuration.subscriptions = [("commands/\(device.id)/#", 1)]
                }
            }
            configuration.will = (topic: "devices/\(device.id)/status", payload: Array("offline".utf8), qos: 1, retain: false)
            let lock = device.lockState
            let client = try MQTTClient(configuration: configuration, logger: logger) { message in
                // The lock acts on a command at once and answers on its events channel.
                guard let lock, let answer = lock.answer(message.payload, topic: message.topic, now: Date().timeIntervalSince1970) else { return }
                lock.outbox.send(answer, topic: "devices/\(lock.id)/events")
            }
            lock?.outbox.client = client
            try client.connect()
            try client.publish(topic: "devices/\(device.id)/status", payload: Array("online".utf8))
            clients.append((device, client))
        }
        logger.info("demo fleet online", metadata: [
            "devices": "\(clients.count)", "ownAccounts": "\(accounts.count)", "broker": "\(broker.url)",
        ])
        let started = Date()
        var round = 0
        while duration.map({ Date().timeIntervalSince(started) < $0 }) ?? true {
            round += 1
            for (index, entry) in clients.enumerated() {
                let (device, client) = entry
                let now = Date().timeIntervalSince1970
                for message in device.messages(round: round, now: now) {
                    try client.publish(topic: "devices/\(device.id)/\(message.channel)", payload: Array(message.payload.utf8))
                }
                if malformedEvery > 0, round % malformedEvery == 0, index == round % clients.count {
                    try client.publish(topic: "devices/\(device.id)/telemetry", payload: Array("{\"temp\": 21.5}".utf8))
                }
            }
            try await Task.sleep(for: .seconds(interval))
        }
        for (device, client) in clients {
            try client.publish(topic: "devices/\(device.id)/status", payload: Array("offline".utf8))
            client.waitForAcknowledgements(timeout: 5)
            client.stop()
        }
    }
}

extension Simulate {
    struct Account: Codable {
        var username: String
        var password: String
    }

    /// Zero-touch onboarding of the demo fleet: each device with a claim code (and no account yet) claims it with
    /// the shared bootstrap account, as `README.md` shows with mosquitto_pub; accounts are kept for later runs.
    /// Devices without either publish through the trusted bridge account.
    func onboardFleet(_ fleet: [DemoDevice], logger: Logger) throws -> [String: Account] {
        var accounts = (FileManager.default.contents(atPath: credentials))
            .flatMap { try? JSONDecoder().decode([String: Account].self, from: $0) } ?? [:]
        guard let claims, let data = FileManager.default.contents(atPath: claims),
              let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let registered = report["registered"] as? [[String: Any]] else { return accounts }
        let wanted = Set(fleet.map(\.id))
        for entry in registered {
            guard let device = entry["device"] as? [String: Any], let id = device["deviceId"] as? String,
                  wanted.contains(id), accounts[id] == nil,
                  let serial = device["serialNumber"] as? String, let code = entry["claimCode"] as? String else { continue }
            let answer = try claim(serial: serial, code: code, logger: logger)
            guard answer["status"] as? String == "provisioned", let username = answer["username"] as? String,
                  let password = answer["password"] as? String else {
                logger.warning("claim refused", metadata: ["device": "\(id)", "reason": "\(answer["reason"] ?? "no answer")"])
                continue
            }
            accounts[id] = Account(username: username, password: password)
            logger.info("onboarded", metadata: ["device": "\(id)", "serial": "\(serial)"])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        FileManager.default.createFile(atPath: credentials, contents: try encoder.encode(accounts),
                                       attributes: [.posixPermissions: 0o600])
        return accounts
    }

    /// Publishes a claim with the bootstrap account and waits for the gateway's answer, which comes on a topic
    /// only this claimant knows: `provisioning/<serial>/result/<nonce>`, the nonce being 128 fresh random bits.
    private func claim(serial: String, code: String, logger: Logger) throws -> [String: Any] {
        let environment = ProcessInfo.processInfo.environment
        let nonce = Self.nonce()
        let username = environment["MQTT_BOOTSTRAP_USERNAME"] ?? "bootstrap"
        var configuration = try broker.configuration(clientID: "claim", cleanSession: true)
        configuration.username = username
        configuration.password = environment["MQTT_BOOTSTRAP_PASSWORD"] ?? "bootstrap"
        configuration.clientID = ClientIDNamespace.qualify(Self.nonce(), for: username)
        configuration.subscriptions = [("provisioning/\(serial)/result/\(nonce)", 1)]
        let answer = AnswerBox()
        let client = try MQTTClient(configuration: configuration, logger: logger) { answer.set($0.payload) }
        try client.connect()
        defer { client.stop() }
        Thread.sleep(forTimeInterval: 0.2)  // the subscription settles
        let request = try JSONSerialization.data(withJSONObject: ["serial": serial, "claimCode": code, "nonce": nonce])
        try client.publish(topic: "provisioning/\(serial)/claim", payload: Array(request))
        let deadline = Date().addingTimeInterval(10)
        while answer.value == nil, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return answer.value.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] } ?? [:]
    }

    /// 128 random bits as 32 hex digits, from the system's CSPRNG.
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

private final class AnswerBox: Sendable {
    private let payload = Mutex<[UInt8]?>(nil)
    func set(_ value: [UInt8]) { payload.withLock { $0 = value } }
    var value: [UInt8]? { payload.withLock { $0 } }
}

/// A simulated Nordlock NL-200's memory: its event counter (every event numbered, as the access log expects) and
/// how it answers remote commands. Shared between the round loop and the MQTT thread that delivers commands.
final class DemoLock: Sendable {
    let id: String
    private let sequence = Mutex<Int64>(0)
    let outbox = Outbox()

    init(id: String) { self.id = id }

    func nextSequence() -> Int64 { sequence.withLock { $0 += 1; return $0 } }

    /// An NL-200 event message: numbered, with the lock state and battery it sends on every message.
    func event(_ evt: String, now: Double, state: String, by: String? = nil, staff: String? = nil, extra: String = "") -> String {
        let how = by.map { #","by":"\#($0)""# } ?? ""
        let who = staff.map { #","staff":"\#($0)""# } ?? ""
        return #"{"ts":\#(Int64(now * 1000)),"seq":\#(nextSequence()),"evt":"\#(evt)","lock":{"state":"\#(state)"\#(how)\#(who)},"power":{"mv":3600}\#(extra)}"#
    }

    /// The answer to a command (`{"id", "action", "expiresAt"}`): the state change and the command's result. A
    /// command past its expiry is refused by the lock, as a real one would.
    func answer(_ payload: [UInt8], topic: String, now: Double) -> [String]? {
        guard let command = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else { return nil }
        if topic.hasSuffix("/grants") {
            // A new grant list: the lock loads it and says which version it holds.
            guard let version = command["version"] as? Int else { return nil }
            return [event("GRANTS", now: now, state: "LOCKED", extra: #","grants":{"version":\#(version)}"#)]
        }
        guard let id = command["id"] as? String, let action = command["action"] as? String else { return nil }
        let expired = (command["expiresAt"] as? String).flatMap(RFC3339.micros)
            .map { Double($0) / 1e6 < now } ?? false
        if expired {
            return [event("CMD", now: now, state: "LOCKED", extra: #","cmd":{"id":"\#(id)","result":"FAILED","reason":"expired"}"#)]
        }
        let state = action == "unlock" ? "UNLOCKED" : "LOCKED"
        return [event(action == "unlock" ? "UNLOCK" : "LOCK", now: now, state: state, by: "APP"),
                event("CMD", now: now, state: state, extra: #","cmd":{"id":"\#(id)","result":"OK"}"#)]
    }

    /// Publishes answers from the MQTT thread once the client exists.
    final class Outbox: @unchecked Sendable {
        private let lock = NSLock()
        private var _client: MQTTClient?
        var client: MQTTClient? {
            get { lock.lock(); defer { lock.unlock() }; return _client }
            set { lock.lock(); _client = newValue; lock.unlock() }
        }
        func send(_ messages: [String], topic: String) {
            guard let client else { return }
            for message in messages { try? client.publish(topic: topic, payload: Array(message.utf8)) }
        }
    }
}

/// One simulated device and what it says each round.
struct DemoDevice {
    enum Kind: String { case lock = "lock", gps = "gps", safety = "safety", sensor = "sensor" }

    var id: String
    var kind: Kind
    var seed: Double
    /// Locks only: the lock's own state (event numbers, command answers).
    var lockState: DemoLock?

    struct Message {
        var channel: String
        var payload: String
    }

    func messages(round: Int, now: Double) -> [Message] {
        let battery = max(5, 100 - Double(round) * 0.05 - seed * 10).rounded()
        let time = String(format: "%.3f", now)
        switch kind {
        case .lock:
            // A Nordlock NL-200 (vendor JSON): its state each round; now and then a visit: the night staff's card
            // opens the door, and the door is locked again a round later.
            guard let lock = lockState else { return [] }
            let millivolts = Int(3000 + battery * 6)
            var messages = [Message(channel: "telemetry", payload: """
                {"ts":\(Int64(now * 1000)),"lock":{"state":"LOCKED","door":"CLOSED"},"power":{"mv":\(millivolts)},"rssi":-71}
                """)]
            let phase = (round + Int(seed * 10)) % 12
            if phase == 0 {
                messages.append(Message(channel: "events", payload: lock.event("UNLOCK", now: now, state: "UNLOCKED", by: "CARD", staff: "night-1")))
            } else if phase == 1 {
                messages.append(Message(channel: "events", payload: lock.event("LOCK", now: now, state: "LOCKED", by: "CARD", staff: "night-1")))
            }
            return messages
        case .gps:
            // Around a home in Gothenburg. The first GPS alarm wanders: out to 600 m and back every 40 rounds (a
            // person with dementia leaving a safe zone of, say, 250 m); the others stay within 40 m of home.
            let (homeLatitude, homeLongitude) = (57.6996 + seed * 0.01, 11.9527 + seed * 0.01)
            let distance = id.hasSuffix("-001") ? 300 * (1 - cos(2 * Double.pi * Double(round) / 40))
                                                : 40 * abs(sin(Double(round) / 7 + seed * 5))
            let bearing = Double.pi / 4 + seed
            let latitude = homeLatitude + distance * cos(bearing) / 111_320
            let longitude = homeLongitude + distance * sin(bearing) / (111_320 * cos(homeLatitude * Double.pi / 180))
            var messages = [Message(channel: "telemetry", payload: """
                [{"bt":\(time),"n":"latitude","u":"lat","v":\(String(format: "%.6f", latitude))},\
                {"n":"longitude","u":"lon","v":\(String(format: "%.6f", longitude))},\
                {"n":"position_accuracy","u":"m","v":\(8 + round % 5)},{"n":"battery","u":"%","v":\(battery)}]
                """)]
            if round % 17 == Int(seed * 17) {
                messages.append(Message(channel: "events", payload: """
                    [{"bt":\(time),"n":"sos","vb":true}]
                    """))
            }
            return messages
        case .sensor:
            // A room sensor of a care home: open data (temperature, humidity) for the CIP facade.
            let temperature = 21 + sin(Double(round) / 20 + seed * 6) * 1.5
            let humidity = 40 + cos(Double(round) / 25 + seed * 6) * 8
            return [Message(channel: "telemetry", payload: """
                [{"bt":\(time),"n":"temperature","u":"Cel","v":\(String(format: "%.2f", temperature))},\
                {"n":"humidity","u":"%RH","v":\(String(format: "%.1f", humidity))},{"n":"battery","u":"%","v":\(battery)}]
                """)]
        case .safety:
            // Safety alarms speak SCAIP: a heartbeat (PI) each round, now and then a button alarm (ME).
            let reference = String(format: "%08x", UInt32(truncatingIfNeeded: round &* 2_654_435_761 &+ Int(seed * 1000)))
            var messages = [Message(channel: "status", payload: """
                <?xml version="1.0" encoding="UTF-8"?><mrq><ref>\(reference)</ref><cid>\(id)</cid><mty>PI</mty></mrq>
                """)]
            if round % 23 == Int(seed * 23) {
                messages.append(Message(channel: "events", payload: """
                    <?xml version="1.0" encoding="UTF-8"?><mrq><ref>\(reference)a</ref><cid>\(id)</cid><dty>0003</dty>\
                    <mty>ME</mty><stc>0010</stc><pri>1</pri><lco>0001</lco><lte>Bedroom</lte></mrq>
                    """))
            }
            return messages
        }
    }
}

enum DemoFleet {
    static func make(perKind: Int) -> [DemoDevice] {
        var devices: [DemoDevice] = []
        for kind in [DemoDevice.Kind.lock, .gps, .safety, .sensor] {
            for number in 1...max(1, perKind) {
                let id = "\(kind.rawValue)-\(String(format: "%03d", number))"
                devices.append(DemoDevice(id: id, kind: kind, seed: Double(number) / Double(perKind + 1),
                                          lockState: kind == .lock ? DemoLock(id: id) : nil))
            }
        }
        return devices
    }
}
