import ArgumentParser
import Composition
import Foundation
import Ingest
import Models

/// `cip-bench bench-adapters`: normalization throughput of each payload adapter on one core (one thread),
/// against the cost of only parsing the same payload, measured in the same run.
struct BenchAdapters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-adapters", abstract: "Measure each payload adapter's normalization rate on one core.")

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 2

    struct Case {
        var name: String
        var deviceType: String
        var model: String?
        var format: PayloadFormat
        var payload: String
    }

    static let cases: [Case] = [
        Case(name: "SenML, sensor (4 records)", deviceType: "sensor", model: nil, format: .senml, payload: """
            [{"bt":1714557000,"n":"temperature","u":"[degF]","v":68},{"n":"humidity","u":"%RH","v":41.5},
             {"n":"battery_voltage","u":"mV","v":2950},{"t":60,"n":"temperature","u":"K","v":293.65}]
            """),
        Case(name: "SenML, gps-alarm (7 records)", deviceType: "gps-alarm", model: nil, format: .senml, payload: """
            [{"bt":1714557605,"n":"latitude","u":"lat","v":59.329323},{"n":"longitude","v":18.068581},
             {"n":"position_accuracy","u":"m","v":12.5},{"n":"speed","u":"km/h","v":4.5},{"n":"sos","vb":true},
             {"n":"geofence_exit","vs":"home"},{"n":"heartbeat","vb":true}]
            """),
        Case(name: "vendor JSON, tryggpos-tp3", deviceType: "gps-alarm", model: "tryggpos-tp3", format: .vendorJSON, payload: """
            {"imei":"359881234567890","t":1714557605,"pos":{"lat":59.329323,"lon":18.068581,"acc":12.5,"spd":4.5,"fix":"3D"},
             "bat":{"pct":76,"chg":true,"low":false},"gsm":{"rssi":-85},"sos":true,"fall":false,"zone":{"state":"EXITED","id":"home"}}
            """),
        Case(name: "vendor JSON, hemlas-hl5", deviceType: "digital-lock", model: "hemlas-hl5", format: .vendorJSON, payload: """
            {"serial":"HL5-0042","time":"2024-05-01T12:00:00.250+02:00","status":{"locked":false,"doorOpen":true,"jammed":false,"tampered":false},
             "lastAction":{"method":"rfid"},"battery":0.83,"radio":{"rssi":-64},"info":{"firmware":"5.1.0-se"},"event":{"code":2}}
            """),
        Case(name: "vendor JSON, nordlock-nl200", deviceType: "digital-lock", model: "nordlock-nl200", format: .vendorJSON, payload: """
            {"ts":1714557600000,"lock":{"state":"LOCKED","by":"CARD","door":"CLOSED"},"power":{"mv":3600},"rssi":-70,"fw":"2.4.1",
             "flags":{"tamper":false,"jam":false},"evt":"LOCK"}
            """),
        Case(name: "SCAIP XML, ME alarm", deviceType: "safety-alarm", model: nil, format: .scaipXML, payload: """
            <?xml version="1.0" encoding="UTF-8"?><mrq><ref>ab12cd34</ref><ver>1.1</ver><cid>0046701234567</cid>
            <dty>0003</dty><did>SA-000123</did><mty>ME</mty><stc>0010</stc><stt>Manual alarm</stt><pri>1</pri>
            <lco>0001</lco><lte>Hallway</lte><lge>59.3293,18.0686</lge></mrq>
            """),
    ]

    func run() async throws {
        let normalizer = try DataModelsLoader.normalizer(at: nil)
        print("cip-bench bench-adapters: \(seconds) s per adapter, one thread")
        print("adapter                          payloads/s   records/s   parse-only/s   normalize/parse")
        for item in Self.cases {
            let bytes = Array(item.payload.utf8)
            let sample = try normalizer.normalize(deviceType: item.deviceType, model: item.model, format: item.format,
                                                  payload: bytes, receivedAt: 1_714_557_700)
            guard sample.rejections.isEmpty else {
                throw StartupError(description: "\(item.name): sample payload is rejected: \(sample.rejections)")
            }
            let records = sample.values.count + sample.events.count
            let rate = measure {
                _ = try? normalizer.normalize(deviceType: item.deviceType, model: item.model, format: item.format,
                                              payload: bytes, receivedAt: 1_714_557_700)
            }
            // The baseline: only the parser the adapter stands on.
            let parseRate = measure {
                if item.format == .scaipXML { _ = try? SCAIPParser.parse(bytes) } else { _ = try? JSONParser.parse(bytes) }
            }
            print(item.name.padding(toLength: 32, withPad: " ", startingAt: 0)
                  + String(format: " %10.0f  %10.0f  %13.0f   %6.2f", rate, rate * Double(records), parseRate, rate / parseRate))
        }
    }

    /// Calls `body` in a loop for `seconds`; returns calls per second.
    private func measure(_ body: () -> Void) -> Double {
        for _ in 0..<1_000 { body() }  // warm up
        let started = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(seconds * 1e9)
        var calls = 0
        while DispatchTime.now().uptimeNanoseconds - started < limit {
            for _ in 0..<100 { body() }
            calls += 100
        }
        return Double(calls) / (Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }
}
