import Foundation
import Models
import Storage
import Testing

@testable import Ingest

/// Input as an attacker or a broken device sends it: every case here once crashed the gateway, stalled its
/// ingest or dropped an alarm (issue 10). Each must now end in stored data or a precise dead letter.
@Suite struct HostileInputTests {
    static let received: Int64 = 1_760_000_000_000_000
    static let dataModels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("DataModels")
    static let devices = [
        "sensor-1": DeviceProfile(type: "sensor", model: nil, state: "active"),
        "alarm-1": DeviceProfile(type: "safety-alarm", model: nil, state: "active"),
        "gps-1": DeviceProfile(type: "gps-alarm", model: nil, state: "active"),
    ]

    static let catalogueNormalizer: CatalogueNormalizer = {
        let catalogue = try! Catalogue.load(from: dataModels)
        let mappings = try! VendorMapping.loadAll(from: dataModels.appendingPathComponent("mappings"))
        return try! CatalogueNormalizer(catalogue: catalogue, mappings: mappings)
    }()

    func normalize(_ topic: String, _ payload: String, catalogue: Bool = true) -> Normalizer.Output {
        Normalizer(catalogue: catalogue ? Self.catalogueNormalizer : nil).normalize(
            JournalRecord(sequence: 1, receivedAtMicros: Self.received, topic: topic, payload: Array(payload.utf8)),
            devices: Self.devices)
    }

    // MARK: Times (item 1: a trap and a crash loop; item 2: a stalled COPY, a pinned latest value)

    @Test(arguments: ["1e13", "-1e13", "-1e12", "253402300000", "1e308", "-1e308", "946684799"])
    func timesOutsideTheWindowAreRefusedPerRecordOnEveryPath(time: String) {
        for catalogue in [true, false] {
            let output = normalize("devices/sensor-1/telemetry",
                                   #"[{"n":"temperature","u":"Cel","v":21,"t":\#(time)},{"n":"humidity","v":40}]"#,
                                   catalogue: catalogue)
            #expect(output.observations.map(\.quantity) == ["humidity"], "catalogue \(catalogue), t \(time)")
            #expect(output.deadLetters.count == 1)
            let reason = output.deadLetters.first?.reason ?? ""
            #expect(reason.contains("before") || reason.contains("after arrival"), "\(reason)")
            #expect(output.rawMessage.outcome == .partial)
        }
    }

    @Test func aRelativeTimeFarInThePastIsRefusedNotTrapped() {
        // bt + t below 2^28 is relative to arrival: -1e13 s before now is long before 2000.
        let output = normalize("devices/sensor-1/telemetry", #"[{"bt":-1e13,"n":"temperature","v":21}]"#)
        #expect(output.observations.isEmpty)
        #expect(output.deadLetters.first?.reason.contains("before") == true)
    }

    @Test func anEventWithATimeOutsideTheWindowIsKeptAtItsArrivalTime() {
        let output = normalize("devices/sensor-1/events", #"[{"n":"tamper","vb":true,"t":1e13}]"#)
        #expect(output.events.map(\.event) == ["tamper"])
        #expect(output.events.first?.observedAtMicros == Self.received)
        #expect(output.deadLetters.first?.reason.contains("kept at its arrival time") == true)
    }

    @Test func timesInsideTheWindowAreKept() {
        let output = normalize("devices/sensor-1/telemetry", #"[{"n":"temperature","v":21,"t":1760000000.25}]"#)
        #expect(output.observations.first?.observedAtMicros == 1_760_000_000_250_000)
        #expect(output.deadLetters.isEmpty)
    }

    // MARK: Text PostgreSQL cannot store (item 2)

    @Test func aNULInAStringValueIsRefusedWithThePlace() {
        for catalogue in [true, false] {
            let output = normalize("devices/sensor-1/telemetry", #"[{"n":"firmware_version","vs":"a\u0000b"},{"n":"humidity","v":40}]"#,
                                   catalogue: catalogue)
            #expect(output.observations.map(\.quantity) == ["humidity"], "catalogue \(catalogue)")
            #expect(output.deadLetters.first?.reason.contains("NUL") == true)
        }
    }

    @Test func reasonsAndTopicsThatQuoteANULAreStorable() {
        // The enum check quotes the value it refuses; the dead letter must not carry the NUL itself.
        let output = normalize("devices/sensor-1/telemetry", #"[{"n":"status","vs":"on\u0000line"}]"#)
        for letter in output.deadLetters {
            #expect(IngestBounds.unstorable(letter.reason) == nil)
            #expect(IngestBounds.unstorable(letter.topic) == nil)
        }
        let badTopic = normalize("devices/x\u{0}y/telemetry", "[]")
        #expect(badTopic.deadLetters.count == 1)
        #expect(IngestBounds.unstorable(badTopic.deadLetters[0].topic) == nil)
        #expect(IngestBounds.unstorable(badTopic.deadLetters[0].reason) == nil)
        #expect(IngestBounds.unstorable(badTopic.rawMessage.topic) == nil)
    }

    @Test func eventAttributesAreStorable() {
        let output = normalize("devices/sensor-1/events", #"[{"n":"tamper","vs":"x\u0000y"}]"#)
        #expect(output.events.count == 1)
        #expect(output.events.allSatisfy { $0.attributes.values.allSatisfy { IngestBounds.unstorable($0) == nil } })
    }

    // MARK: SenML base names (item 8)

    @Test func aBaseNameThatNamesTheDeviceIsTakenOff() {
        let output = normalize("devices/sensor-1/telemetry",
                               #"[{"bn":"urn:dev:ow:195bc4:","bt":1760000000,"n":"temperature","u":"Cel","v":22.5},{"n":"humidity","v":41}]"#)
        #expect(output.observations.map(\.quantity) == ["temperature", "humidity"])
        #expect(output.deadLetters.isEmpty)
        let slash = normalize("devices/sensor-1/telemetry", #"[{"bn":"building-7/room-2/","n":"temperature","v":21}]"#)
        #expect(slash.observations.map(\.quantity) == ["temperature"])
        let ownID = normalize("devices/sensor-1/telemetry", #"[{"bn":"sensor-1","n":"temperature","v":21}]"#)
        #expect(ownID.observations.map(\.quantity) == ["temperature"])
    }

    @Test func anyOtherBaseNameStaysPartOfTheName() {
        let joined = normalize("devices/sensor-1/telemetry", #"[{"bn":"temp","n":"erature","v":21}]"#)
        #expect(joined.observations.map(\.quantity) == ["temperature"])
        let foreign = normalize("devices/sensor-1/telemetry", #"[{"bn":"sensor-2","n":"temperature","v":21}]"#)
        #expect(foreign.observations.isEmpty)
        #expect(foreign.deadLetters.first?.reason.contains("sensor-2temperature") == true)
    }

    @Test func deviceTypeAliasesNameCatalogueQuantities() {
        let output = normalize("devices/sensor-1/telemetry", #"[{"bn":"urn:dev:mac:0024befffe804ff1:","n":"temp","v":21},{"n":"hum","v":40}]"#)
        #expect(output.observations.map(\.quantity) == ["temperature", "humidity"])
    }

    // MARK: SCAIP (item 7)

    static func scaip(_ body: String, mty: String = "ME", dty: String = "0005") -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><mrq><ref>R1</ref><cid>1234</cid><dty>\(dty)</dty><mty>\(mty)</mty>\(body)</mrq>"
    }

    @Test func aFallAlarmWithAStructuredPositionRaisesTheAlarmWithThePosition() {
        let output = normalize("devices/alarm-1/events",
            Self.scaip("<lge><geo>57.7089,11.9746</geo><tim>2025-10-09T08:53:20Z</tim><gga>$GPGGA,085000,5742.534,N,01158.476,E,1,08,0.9,12.0,M,,,,*47</gga></lge>"))
        #expect(output.events.map(\.event) == ["fall_detector"])
        #expect(output.events.first?.attributes["lge"] == "57.7089,11.9746")
        #expect(output.events.first?.attributes["lge_time"] == "1760000000.0")
        #expect(output.deadLetters.isEmpty, "\(output.deadLetters.map(\.reason))")
        #expect(output.rawMessage.outcome == .accepted)
    }

    @Test func classThreeAttributesTravelOnlyWithClassThreeEvents() {
        // stc 0016 makes an ME a low battery (class 2): its location and position stay off the event.
        let output = normalize("devices/alarm-1/events", Self.scaip("<stc>0016</stc><lte>Kitchen</lte><lco>039</lco><lge>57.7,11.9</lge>"))
        #expect(output.events.map(\.event) == ["low_battery"])
        #expect(output.events.first.map { Set($0.attributes.keys).isDisjoint(with: ["lte", "lco", "lge", "lge_time"]) } == true)
        #expect(Set(output.observations.map(\.quantity)) == ["location_text", "location_code", "position"])
        // A fall alarm (class 3) keeps them.
        let fall = normalize("devices/alarm-1/events", Self.scaip("<lte>Kitchen</lte>"))
        #expect(fall.events.first?.attributes["lte"] == "Kitchen")
    }

    @Test func aPositionFromGGAWhenGeoIsMissing() throws {
        let message = try SCAIPParser.parse(Array(Self.scaip("<lge><gga>$GPGGA,085000,5742.534,N,01158.476,W,1,08,0.9,12.0,M,,,,*47</gga></lge>").utf8))
        let position = try #require(message.position)
        #expect(abs(position.latitude - (57 + 42.534 / 60)) < 1e-9)
        #expect(abs(position.longitude + (11 + 58.476 / 60)) < 1e-9)
    }

    @Test(arguments: [
        "<lge><geo>north,east</geo></lge>",
        "<lge>91,200</lge>",
        "<lge><geo>57.7,11.9</geo><tim>yesterday</tim></lge>",
        "<pri><x/></pri>",
        "<pri>urgent</pri>",
        "<stt>a</stt><stt>b</stt>",
        "<lte><b>kitchen</b></lte>",
        "<lge><gga>$GPGGA,1,2,3</gga></lge>",
        "<lge><gga>*</gga></lge>",
        "<lge><gga>**</gga></lge>",
        "<lge><gga>*xyz</gga></lge>",
        "<lge><geo>57.7,11.9</geo><tim>*</tim></lge>",
        "<lge><geo>*</geo></lge>",
    ])
    func anAlarmWithAnUnreadableOptionalFieldIsStillRaised(garbage: String) {
        let output = normalize("devices/alarm-1/events", Self.scaip(garbage))
        #expect(output.events.map(\.event) == ["fall_detector"], "\(garbage)")
        #expect(!output.deadLetters.isEmpty, "the unreadable part is a rejection of its own: \(garbage)")
        #expect(output.rawMessage.outcome == .partial)
    }

    @Test func randomPositionPartsNeverTrap() {
        // Random text in every part of a structured lge (the GGA parser once trapped on "*").
        let alphabet = Array("$GPGA*,.-+0123456789NSEW: \t")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3_000 {
            let text = String((0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            let part = ["gga", "geo", "tim"].randomElement(using: &generator)!
            let output = normalize("devices/alarm-1/events", Self.scaip("<lge><\(part)>\(text)</\(part)></lge>"))
            #expect(output.events.map(\.event) == ["fall_detector"], "\(part): \(text)")
        }
    }

    @Test(arguments: [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><mrq><ref>R1</ref><cid>1234</cid><dty>0005</dty><mty>ME</mty><lte>a&#1;b</lte></mrq>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><mrq><ref>R1</ref><cid>1234</cid><dty>0005</dty><mty>ME</mty><lte>a&nbsp;b</lte></mrq>",
        "\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><mrq><ref>R1</ref><cid>1234</cid><dty>0005</dty><mty>ME</mty></mrq>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><mrq><ref>R1</ref><cid>1234</cid><dty>0005</dty><mty>me</mty></mrq>",
    ])
    func aFallAlarmInMalformedXMLIsStillRaised(document: String) {
        let output = normalize("devices/alarm-1/events", document)
        #expect(output.events.map(\.event) == ["fall_detector"], "\(output.deadLetters.map(\.reason))")
    }

    @Test func aLatin1ByteWithoutAnEncodingDeclarationDoesNotCostTheAlarm() {
        let bytes = Array("<mrq><ref>R1</ref><cid>1234</cid><dty>0005</dty><mty>ME</mty><lte>K".utf8) + [0xF6] + Array("k</lte></mrq>".utf8)
        let output = Normalizer(catalogue: Self.catalogueNormalizer).normalize(
            JournalRecord(sequence: 1, receivedAtMicros: Self.received, topic: "devices/alarm-1/events", payload: bytes),
            devices: Self.devices)
        #expect(output.events.map(\.event) == ["fall_detector"])
        #expect(output.deadLetters.first?.reason.contains("not well-formed") == true)
        #expect(output.rawMessage.outcome == .partial)
    }

    @Test func safetyRefusalsAreNeverSalvaged() {
        // A DTD, a NUL, a foreign root and a depth bomb stay refused whole, whatever fields they carry.
        for document in [
            "<?xml version=\"1.0\"?><!DOCTYPE mrq [<!ENTITY x \"y\">]><mrq><ref>R1</ref><cid>1</cid><mty>ME</mty></mrq>",
            "<mrq><ref>R1</ref><cid>1</cid><mty>ME</mty>\u{0}</mrq>",
            "<mrs><ref>R1</ref><cid>1</cid><mty>ME</mty></mrs>",
            "<mrq><ref>R1</ref><cid>1</cid><mty>ME</mty>" + String(repeating: "<a>", count: 100) + "</mrq>",
        ] {
            let output = normalize("devices/alarm-1/events", document)
            #expect(output.events.isEmpty, "\(document.prefix(60))")
            #expect(output.rawMessage.outcome == .rejected)
        }
    }

    @Test func aQuotedValueCannotCloseItsQuotesEarly() {
        let output = normalize("devices/alarm-1/events", Self.scaip(#"<pri>x" Anna Andersson, Storgatan "y</pri>"#))
        let reason = output.deadLetters.first?.reason ?? ""
        #expect(reason.contains(#"\" Anna Andersson"#), "\(reason)")
    }

    @Test func aMessageWithoutItsRequiredFieldsIsStillRejectedWhole() {
        let output = normalize("devices/alarm-1/events", "<mrq><ref><x/></ref><cid>1</cid><mty>ME</mty></mrq>")
        #expect(output.events.isEmpty)
        #expect(output.rawMessage.outcome == .rejected)
        #expect(output.deadLetters.first?.reason.contains("ref") == true)
    }

    // MARK: Generated garbage never traps and always accounts for the message

    @Test func generatedHostilePayloadsEndInDataOrDeadLetters() {
        var generator = SystemRandomNumberGenerator()
        let numbers = ["1e13", "-1e13", "1e308", "-1e308", "1e999", "-0", "4.9e-324", "9223372036854775807",
                       "18446744073709551616", "268435455.99", "NaN", "0.1e-400", "1" + String(repeating: "0", count: 400)]
        let strings = [#""a\u0000b""#, #""\ud800""#, #""\uDFFF\uD800""#, "\"\(String(repeating: "x", count: 70_000))\"",
                       #""é\u0007\u001f""#, "\"\"", #""\\\"""#]
        let fields = ["n", "v", "vs", "vb", "vd", "t", "bt", "bn", "bv", "bs", "s", "u", "bu", "ut", "bver", "_x"]
        var payloads: [String] = [String(repeating: "[", count: 10_000), "\u{0}", "[{}]", "{}", "null", "[[]]"]
        for _ in 0..<400 {
            var records: [String] = []
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                var members: [String] = []
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let field = fields.randomElement(using: &generator)!
                    let value = Bool.random(using: &generator) ? numbers.randomElement(using: &generator)!
                        : strings.randomElement(using: &generator)!
                    members.append("\"\(field)\":\(value)")
                }
                if Bool.random(using: &generator) { members.append(#""n":"temperature""#) }
                records.append("{" + members.joined(separator: ",") + "}")
            }
            payloads.append("[" + records.joined(separator: ",") + "]")
        }
        for payload in payloads {
            for topic in ["devices/sensor-1/telemetry", "devices/sensor-1/events", "devices/gps-1/telemetry",
                          "devices/alarm-1/events", "devices/sensor-1/status"] {
                for catalogue in [true, false] {
                    let output = normalize(topic, payload, catalogue: catalogue)
                    #expect(output.observations.count + output.events.count + output.deadLetters.count > 0
                            || output.rawMessage.outcome == .accepted)
                    for observation in output.observations {
                        #expect(observation.observedAtMicros >= 946_684_800_000_000)
                        #expect(observation.observedAtMicros <= Self.received + 86_400_000_000)
                        if case .string(let text) = observation.value { #expect(IngestBounds.unstorable(text) == nil) }
                    }
                    for letter in output.deadLetters { #expect(IngestBounds.unstorable(letter.reason) == nil) }
                }
            }
        }
    }
}

@Suite struct PoisonIsolationTests {
    /// Runs the state machine against a set of poison messages; returns what it found and how many writes.
    func run(messages: Int, poison: Set<Int>) -> (found: Set<Int>, writes: Int, committed: [Int]) {
        var isolation = PoisonIsolation(messages: messages, refusedWith: "whole batch")
        var writes = 0
        var committed: [Int] = []
        while case .write(let group) = isolation.next {
            writes += 1
            #expect(writes < 10_000)
            if group.contains(where: poison.contains) {
                isolation.refused("22021 NUL")
            } else {
                committed += group
                isolation.committed()
            }
        }
        return (Set(isolation.poisoned.keys), writes, committed)
    }

    @Test func findsOnePoisonMessageAndCommitsEveryOtherInOrder() {
        let result = run(messages: 5_000, poison: [3_217])
        #expect(result.found == [3_217])
        #expect(result.committed == Array(0..<3_217) + Array(3_218..<5_000))
        #expect(result.writes <= 2 * 13 + 2)
    }

    @Test func findsSeveralAndAll() {
        #expect(run(messages: 100, poison: [0, 50, 99]).found == [0, 50, 99])
        #expect(run(messages: 7, poison: Set(0..<7)).found == Set(0..<7))
        #expect(run(messages: 7, poison: Set(0..<7)).committed.isEmpty)
    }

    @Test func aSingleMessageBatchIsPoisonAtOnce() {
        let isolation = PoisonIsolation(messages: 1, refusedWith: "22008 date out of range")
        #expect(isolation.next == .finished)
        #expect(isolation.poisoned == [0: "22008 date out of range"])
    }
}

@Suite struct ReplayGuardTests {
    /// Simulates starts of a gateway whose normalizer dies on the records in `poison`, the way the pipeline runs:
    /// the checkpoint moves only now and then (every `checkpointEvery` records) and one batch behind (the next
    /// batch is normalized while the current one is written), so records before a poison are replayed on every
    /// start. The guard's state survives each death as its file does. Returns the quarantined sequences and how
    /// many starts it took to get through `1...last`.
    func simulate(poison: Set<UInt64>, last: UInt64, batch: Int, checkpointEvery: UInt64 = 1) -> (quarantined: [UInt64], starts: Int) {
        var persisted = ReplayGuard.State()
        var checkpoint: UInt64 = 0
        var quarantined: [UInt64] = []
        var starts = 0
        restart: while checkpoint < last, starts < 200 {
            starts += 1
            var replayGuard = ReplayGuard(state: persisted)
            persisted = replayGuard.state
            var next = checkpoint + 1
            var previousEnd = checkpoint
            while next <= last {
                let end = min(next + UInt64(replayGuard.limit(next: next, normal: batch)) - 1, last)
                let decision = replayGuard.begin(first: next, last: end)
                persisted = replayGuard.state
                // Content keys: here each record's sequence is its content.
                func key(_ sequence: UInt64) -> [UInt8] { withUnsafeBytes(of: sequence) { Array($0) } }
                if case .quarantine = decision {
                    replayGuard.poisoned(key(next))
                    persisted = replayGuard.state
                    if !quarantined.contains(next) { quarantined.append(next) }
                } else if (next...end).contains(where: { poison.contains($0) && !replayGuard.isPoison(key($0)) }) {
                    continue restart  // the process dies with the batch begun (known poison is not normalized)
                }
                replayGuard.finished()
                persisted = replayGuard.state
                // One batch behind, and only every so many records.
                if previousEnd / checkpointEvery > checkpoint / checkpointEvery || previousEnd == last { checkpoint = previousEnd }
                previousEnd = end
                next = end + 1
            }
            checkpoint = last
        }
        return (quarantined, starts)
    }

    @Test func aRecordThatKillsEveryStartIsQuarantinedAndTheRestGoesOn() {
        let result = simulate(poison: [37], last: 100, batch: 10)
        #expect(result.quarantined == [37])
        #expect(result.starts == 4)  // three deaths, then the start that quarantines
    }

    @Test func aLaggingCheckpointThatReplaysEarlierRecordsDoesNotResetTheCount() {
        // The review's case: the checkpoint sits records before the poison, which are replayed on every start.
        for (batch, every) in [(10, 25), (1, 50), (5_000, 1_000), (3, 7)] as [(Int, UInt64)] {
            let result = simulate(poison: [58], last: 200, batch: batch, checkpointEvery: every)
            #expect(result.quarantined == [58], "batch \(batch), checkpoint every \(every)")
            #expect(result.starts <= 4, "batch \(batch), checkpoint every \(every): \(result.starts) starts")
        }
    }

    @Test func twoPoisonRecordsAreBothQuarantined() {
        let result = simulate(poison: [12, 13, 90], last: 120, batch: 50, checkpointEvery: 30)
        #expect(result.quarantined == [12, 13, 90])
        #expect(result.starts <= 10)
    }

    @Test func withoutPoisonNothingIsQuarantined() {
        let result = simulate(poison: [], last: 100, batch: 10)
        #expect(result.quarantined.isEmpty)
        #expect(result.starts == 1)
    }

    @Test func aBatchBegunAgainAfterAnOrderlyStopIsNotCounted() {
        var state = ReplayGuard()
        for _ in 0..<5 {
            #expect(state.begin(first: 1, last: 10) == .normalize)
            state.finished()  // normalized, then not committed (database down), then restarted
            state = ReplayGuard(state: state.state)
        }
        #expect(state.limit(next: 1, normal: 10) == 10)
        #expect(state.state.suspect == nil)
    }

    @Test func quarantinedContentIsRememberedNotItsSequence() {
        var state = ReplayGuard()
        let key: [UInt8] = Array(repeating: 7, count: 16)
        state.poisoned(key)
        #expect(state.isPoison(key))
        #expect(!state.isPoison(Array(repeating: 8, count: 16)))
        // A wiped journal starts its sequences at 1 again: nothing there is quarantined by number.
        #expect(state.begin(first: 1, last: 1) == .normalize)
    }

    @Test func theFileKeepsTheStateAcrossStarts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("guard-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for _ in 0..<3 { _ = ReplayGuardFile(directory: directory).begin(first: 5, last: 9) }  // three deaths
        let file = ReplayGuardFile(directory: directory)
        #expect(file.state == ReplayGuard.State(current: nil, suspect: ReplayGuard.Range(5, 9), deaths: 3))
        #expect(file.limit(next: 5, normal: 100) == 1)
        #expect(file.limit(next: 2, normal: 100) == 3)
        file.poisoned(Array(repeating: 0xAB, count: 16))
        #expect(ReplayGuardFile(directory: directory).isPoison(Array(repeating: 0xAB, count: 16)))
        // A corrupt file is a clean state, not a crash.
        try "garbage 1 2\r\nzz\u{00F6}".write(toFile: directory + "/replay-guard", atomically: true, encoding: .utf8)
        #expect(ReplayGuardFile(directory: directory).state == ReplayGuard.State())
        // An unwritable guard says so (readiness reports it).
        let blocked = directory + "/blocked"
        try FileManager.default.createDirectory(atPath: blocked + "/replay-guard", withIntermediateDirectories: true)
        #expect(!ReplayGuardFile(directory: blocked).isWritable)
        #expect(file.isWritable)
    }
}

@Suite struct FastPathGuardTests {
    @Test func aMessageThatDiedInTheFastPathIsSkippedAfterTheRestart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fast-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = MessageKey.compute(topic: "devices/a/events", payload: Array("good".utf8), receivedAtMicros: nil)
        let poison = MessageKey.compute(topic: "devices/a/events", payload: Array("poison".utf8), receivedAtMicros: nil)
        do {
            let first = FastPathGuard(directory: directory)
            #expect(first.begin(good))
            first.finished()
            #expect(first.begin(poison))  // ... and the process dies here
        }
        let second = FastPathGuard(directory: directory)
        #expect(second.skipped == [poison])
        #expect(!second.begin(poison), "the broker's redelivery is left to the pipeline")
        #expect(second.begin(good))
        second.finished()
        // Still skipped after a clean restart.
        #expect(!FastPathGuard(directory: directory).begin(poison))
        // A torn or foreign line (CR LF, non-ASCII) is skipped, never a crash.
        try "0123456789abcdef0123456789abcd\r\n0123456789abcdef0123456789abcdé\n".write(
            toFile: directory + "/fast-path-skipped", atomically: true, encoding: .utf8)
        #expect(FastPathGuard(directory: directory).skipped.isEmpty)
    }
}
