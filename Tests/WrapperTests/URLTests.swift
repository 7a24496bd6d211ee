import MQTT
@testable import Postgres
import Testing
import Models

@Suite struct MQTTURLTests {
    @Test(arguments: [
        ("mqtt://127.0.0.1:18830", "127.0.0.1", 18830, false),
        ("mqtt://broker.example", "broker.example", 1883, false),
        ("MQTT://broker:1884/", "broker", 1884, false),
        ("mqtt://[::1]:1883", "::1", 1883, false),
        ("mqtts://broker.example", "broker.example", 8883, true),
        ("MQTTS://localhost:18831", "localhost", 18831, true),
    ])
    func parses(text: String, host: String, port: Int, tls: Bool) throws {
        let url = try MQTTURL(parsing: text)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.tls == tls)
        // What the logs print parses back to the same place, TLS included.
        #expect(try MQTTURL(parsing: url.description) == url)
    }

    @Test(arguments: ["127.0.0.1:1883", "http://broker", "ssl://broker:8883", "mqtt://", "mqtts://", "mqtt://broker:0",
                      "mqtts://broker:70000", "mqtt://broker:port"])
    func rejects(text: String) {
        #expect(throws: MQTTError.self) { try MQTTURL(parsing: text) }
    }

    @Test func errorsNameTheProblem() {
        do {
            _ = try MQTTURL(parsing: "tls://broker")
            Issue.record("an unknown scheme must be refused")
        } catch {
            #expect(error.description.contains("unknown scheme tls"))
        }
    }
}

@Suite struct PostgresURLTests {
    @Test func replacesTheDatabaseOfAURI() {
        #expect(PostgresURL.withDatabase("postgresql://cip:cip@127.0.0.1:54329/cip", "other")
                == "postgresql://cip:cip@127.0.0.1:54329/other")
        #expect(PostgresURL.withDatabase("postgres://h/db?sslmode=require", "x") == "postgres://h/x?sslmode=require")
        #expect(PostgresURL.withDatabase("postgresql://h", "x") == "postgresql://h/x")
    }

    @Test func appendsToAKeywordString() {
        #expect(PostgresURL.withDatabase("host=h port=5432 dbname=a", "b") == "host=h port=5432 dbname=a dbname=b")
    }

    @Test func aConnectionFailureCarriesLibpqsMessage() {
        do {
            _ = try PostgresConnection(url: "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
            Issue.record("connecting to a closed port must fail")
        } catch {
            #expect(error.kind == .connection)
            #expect(error.isTransient)
            #expect(error.message.contains("127.0.0.1"))
        }
    }
}

@Suite struct PostgresArrayTests {
    @Test func quotesAndEscapesEveryElement() {
        #expect(PostgresArray.text(["a", "b c"]) == #"{"a","b c"}"#)
        #expect(PostgresArray.text([#"say "hi""#, #"back\slash"#, "comma,brace{}"]) == #"{"say \"hi\"","back\\slash","comma,brace{}"}"#)
        #expect(PostgresArray.text([nil, "NULL", ""]) == #"{NULL,"NULL",""}"#)
        #expect(PostgresArray.text([String]()) == "{}")
    }
}

@Suite struct HexTests {
    @Test func roundTripsAndRefusesNonHex() {
        #expect(Hex.encode([0, 1, 0xAB, 0xFF]) == "0001abff")
        #expect(Hex.decode("0001ABff") == [0, 1, 0xAB, 0xFF])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("") == [])
    }
}
