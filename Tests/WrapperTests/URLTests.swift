import MQTT
@testable import Postgres
import Testing
import Models

@Suite struct MQTTURLTests {
    @Test(arguments: [
        ("mqtt://127.0.0.1:18830", "127.0.0.1", 18830),
        ("mqtt://broker.example", "broker.example", 1883),
        ("MQTT://broker:1884/", "broker", 1884),
        ("mqtt://[::1]:1883", "::1", 1883),
    ])
    func parses(text: String, host: String, port: Int) throws {
        let url = try MQTTURL(parsing: text)
        #expect(url.host == host)
        #expect(url.port == port)
    }

    @Test(arguments: ["127.0.0.1:1883", "http://broker", "mqtts://broker:8883", "mqtt://", "mqtt://broker:0",
                      "mqtt://broker:70000", "mqtt://broker:port"])
    func rejects(text: String) {
        #expect(throws: MQTTError.self) { try MQTTURL(parsing: text) }
    }

    @Test func errorsNameTheProblem() {
        do {
            _ = try MQTTURL(parsing: "mqtts://broker")
            Issue.record("mqtts must be refused until TLS is supported")
        } catch {
            #expect(error.description.contains("TLS"))
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
