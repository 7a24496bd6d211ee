import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Models
import Telemetry
import Testing

/// `/ngsi-ld/v1`: the open-data facade over `InMemoryOpenDataRepository` — class 1 values only, the client's
/// tenants, JSON-LD context handling and NGSI-LD errors.
@Suite struct NGSILDRoutesTests {
    static let base: Int64 = 1_760_000_000_000_000

    /// sensor-n (north) and sensor-s (south): three temperatures (class 1) a minute apart, and a position (class 3).
    static func seed(_ harness: Harness) async throws {
        var values: [Observation] = []
        for (device, tenant, offset) in [("sensor-n", "north", 0.0), ("sensor-s", "south", 10.0)] {
            try await harness.register(device, tenant: tenant, type: "sensor")
            for index in 0..<3 {
                values.append(Observation(deviceID: device, quantity: "temperature", value: .number(20 + offset + Double(index)),
                                          sum: nil, unit: "Cel", observedAtMicros: base + Int64(index) * 60_000_000,
                                          receivedAtMicros: base + 200_000_000, messageKey: [UInt8(index)], recordIndex: 0,
                                          confidentiality: 1))
            }
            values.append(Observation(deviceID: device, quantity: "position", value: .string("57.7,11.9"), sum: nil, unit: nil,
                                      observedAtMicros: base + 200_000_000, receivedAtMicros: base + 200_000_000,
                                      messageKey: [0xff], recordIndex: 0, confidentiality: 3))
        }
        harness.telemetry.store(values)
    }

    struct Answer {
        var status: Int
        var text: String
        var contentType: String?
        var link: String?
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }
    }

    static func get(_ client: any TestClientProtocol, _ uri: String, token: String = "public",
                    accept: String = "application/json") async throws -> Answer {
        try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(token)", .accept: accept]) { response in
            Answer(status: Int(response.status.code), text: String(buffer: response.body), contentType: response.headers[.contentType],
                   link: response.headers[HTTPField.Name("Link")!])
        }
    }

    @Test("entities carry the newest open values only, filtered by q, with the context in a Link header")
    func entities() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let all = try await Self.get(client, "/ngsi-ld/v1/entities?type=Device")
            #expect(all.status == 200, "\(all.text)")
            let entities = all.json as? [[String: Any]] ?? []
            #expect(entities.compactMap { $0["id"] as? String } == ["urn:ngsi-ld:Device:sensor-n", "urn:ngsi-ld:Device:sensor-s"])
            let temperature = entities.first?["temperature"] as? [String: Any]
            #expect(temperature?["value"] as? Double == 22)
            #expect(temperature?["unitCode"] as? String == "CEL")
            #expect(temperature?["observedAt"] as? String == RFC3339.format(micros: Self.base + 120_000_000))
            #expect(!all.text.contains("position") && !all.text.contains("57.7"), "class 3 never leaves the facade")
            #expect(all.contentType == "application/json")
            #expect(all.link?.contains("/ngsi-ld/v1/jsonldContexts/cip-context.jsonld") == true)

            let warm = try await Self.get(client, "/ngsi-ld/v1/entities?type=Device&q=temperature>25")
            #expect((warm.json as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["urn:ngsi-ld:Device:sensor-s"])
            #expect(try await Self.get(client, "/ngsi-ld/v1/entities?type=Device&limit=1&offset=1").text.contains("sensor-s"))
            #expect(try await Self.get(client, "/ngsi-ld/v1/entities?type=Building").text == "[]")
            // Attributes this tier does not have (class 3 position, class 2 battery) match nothing and show nothing.
            #expect(try await Self.get(client, "/ngsi-ld/v1/entities?type=Device&q=position==\"x\"").text == "[]")
            #expect(try await Self.get(client, "/ngsi-ld/v1/entities?type=Device&attrs=battery").text == "[]")
            for (refused, error) in [("/ngsi-ld/v1/entities", "BadRequestData"), ("/ngsi-ld/v1/entities?type=Device&limit=-1", "BadRequestData"),
                                     ("/ngsi-ld/v1/entities?type=Device&q=temperature>", "BadRequestData"),
                                     ("/ngsi-ld/v1/entities?type=Device&q=temperature>1|temperature<0", "OperationNotSupported"),
                                     ("/ngsi-ld/v1/entities?type=Device&limit=1000", "TooManyResults")] {
                let answer = try await Self.get(client, refused)
                #expect([400, 403, 422].contains(answer.status), "\(refused)")
                #expect(answer.text.contains("https://uri.etsi.org/ngsi-ld/errors/\(error)"), "\(refused): \(answer.text)")
            }
        }
    }

    @Test("one entity as JSON-LD; another tenant's device is not found; other roles do not reach the facade")
    func entityAndScope() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let ld = try await Self.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:sensor-n", accept: "application/ld+json")
            #expect(ld.status == 200)
            #expect(ld.contentType == "application/ld+json")
            #expect((ld.json as? [String: Any])?["@context"] as? String == "http://localhost/ngsi-ld/v1/jsonldContexts/cip-context.jsonld")
            #expect(ld.link == nil)

            let north = try await Self.get(client, "/ngsi-ld/v1/entities?type=Device", token: "public-north")
            #expect((north.json as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["urn:ngsi-ld:Device:sensor-n"])
            let hidden = try await Self.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:sensor-s", token: "public-north")
            #expect(hidden.status == 404)
            #expect(hidden.text.contains("https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"))
            #expect(try await Self.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:nobody").status == 404)
            #expect(try await Self.get(client, "/ngsi-ld/v1/entities/sensor-n").status == 400)

            #expect(try await Self.get(client, "/ngsi-ld/v1/types", token: "admin").status == 403)
            #expect(try await Self.get(client, "/integration/v1/devices/sensor-n/latest").status == 403)
            #expect(try await Self.get(client, "/ngsi-ld/v1/types").text.contains(#""typeList":["Device"]"#))
        }
    }

    @Test("temporal values: newest first, lastN per attribute, timerel bounds")
    func temporal() async throws {
        let harness = Harness()
        try await Self.seed(harness)
        try await harness.test { client in
            let uri = "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Device:sensor-n"
            let lastTwo = try await Self.get(client, uri + "?lastN=2")
            #expect(lastTwo.status == 200, "\(lastTwo.text)")
            let values = ((lastTwo.json as? [String: Any])?["temperature"] as? [[String: Any]])?.compactMap { $0["value"] as? Double }
            #expect(values == [22, 21])
            #expect(!lastTwo.text.contains("position"))

            let before = try await Self.get(client, uri + "?timerel=before&timeAt=\(RFC3339.format(micros: Self.base + 60_000_000))")
            #expect(((before.json as? [String: Any])?["temperature"] as? [[String: Any]])?.count == 1)
            #expect(try await Self.get(client, uri + "?timerel=between&timeAt=2020-01-01T00:00:00Z").status == 400)
            #expect(try await Self.get(client, uri + "?timerel=after").status == 400)
            #expect(try await Self.get(client, uri + "?lastN=0").status == 400)
        }
    }
}

/// `/ngsi-ld/v1` writes and subscriptions over the in-memory repositories: who may write, what a write answers,
/// and a client's own subscriptions.
@Suite struct NGSILDWriteRoutesTests {
    static func send(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String, body: String? = nil,
                     contentType: String = "application/json", tenant: String? = nil) async throws -> NGSILDRoutesTests.Answer {
        var headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: contentType]
        if let tenant { headers[HTTPField.Name("NGSILD-Tenant")!] = tenant }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            NGSILDRoutesTests.Answer(status: Int(response.status.code), text: String(buffer: response.body),
                                     contentType: response.headers[.contentType], link: response.headers[.location])
        }
    }

    static let room = #"{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": {"type": "Property", "value": 21}}"#

    @Test("a writer of one tenant writes for it; a writer of two names one; readers cannot write; the entity reads back")
    func writes() async throws {
        let harness = Harness()
        try await harness.test { client in
            let created = try await Self.send(client, .post, "/ngsi-ld/v1/entities", token: "writer-north", body: Self.room)
            #expect(created.status == 201 && created.link == "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1", "\(created.text)")
            let unnamed = try await Self.send(client, .post, "/ngsi-ld/v1/entities", token: "writer-both", body: Self.room)
            #expect(unnamed.status == 400 && unnamed.text.contains("NGSILD-Tenant"))
            let foreign = try await Self.send(client, .post, "/ngsi-ld/v1/entities", token: "writer-north", body: Self.room, tenant: "south")
            #expect(foreign.status == 404 && foreign.text.contains("NonexistentTenant"))
            #expect(try await Self.send(client, .post, "/ngsi-ld/v1/entities", token: "public", body: Self.room).status == 403)
            let patched = try await Self.send(client, .patch, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1/attrs", token: "writer-north",
                                              body: #"{"temperature": 23}"#)
            #expect(patched.status == 204, "\(patched.text)")
            let read = try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1?options=keyValues")
            #expect(read.status == 200 && (read.json as? [String: Any])?["temperature"] as? Double == 23, "\(read.text)")
            let south = try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1", token: "public-north")
            #expect(south.status == 200)
            // A batch update changes entities that exist and names those that do not.
            let update = #"[{"id": "urn:ngsi-ld:Room:1", "temperature": 24}, {"id": "urn:ngsi-ld:Room:404", "temperature": 1}]"#
            let updated = try await Self.send(client, .post, "/ngsi-ld/v1/entityOperations/update", token: "writer-north", body: update)
            #expect(updated.status == 207 && updated.text.contains(#""success":["urn:ngsi-ld:Room:1"]"#) && updated.text.contains("ResourceNotFound"), "\(updated.text)")
            let all = try await Self.send(client, .post, "/ngsi-ld/v1/entityOperations/update", token: "writer-north",
                                          body: #"[{"id": "urn:ngsi-ld:Room:1", "temperature": 25}]"#)
            #expect(all.status == 204)
            #expect((try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1?options=keyValues").json as? [String: Any])?["temperature"] as? Double == 25)
            #expect(try await Self.send(client, .delete, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1", token: "writer-north").status == 204)
            #expect(try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1").status == 404)
        }
    }

    @Test("subscriptions: made, listed, changed and deleted by their own client; endpoints the operator did not allow are refused")
    func subscriptions() async throws {
        let harness = Harness()
        try await harness.test { client in
            let body = #"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}"#
            let made = try await Self.send(client, .post, "/ngsi-ld/v1/subscriptions/", token: "public", body: body)
            #expect(made.status == 201, "\(made.text)")
            let location = try #require(made.link)
            #expect(try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/subscriptions").text.contains(#""watchedAttributes":["temperature"]"#))
            #expect(try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/subscriptions", token: "public-north").text == "[]")
            #expect(try await Self.send(client, .patch, location, token: "public", body: #"{"q": "temperature>1"}"#).status == 204)
            #expect(try await NGSILDRoutesTests.get(client, location).text.contains(#""q":"temperature>1""#))
            #expect(try await Self.send(client, .patch, location, token: "public", body: #"{"type": "Other"}"#).status == 400)
            #expect(try await Self.send(client, .delete, location, token: "public-north").status == 404)
            #expect(try await Self.send(client, .delete, location, token: "public").status == 204)
            let elsewhere = try await Self.send(client, .post, "/ngsi-ld/v1/subscriptions", token: "public",
                                                body: body.replacingOccurrences(of: "127.0.0.1:9", with: "169.254.169.254"))
            #expect(elsewhere.status == 400 && elsewhere.text.contains("not allowed"), "a cloud metadata address is not reachable: \(elsewhere.text)")
            let mqtt = try await Self.send(client, .post, "/ngsi-ld/v1/subscriptions", token: "public",
                                           body: body.replacingOccurrences(of: "http://127.0.0.1:9/n", with: "mqtt://127.0.0.1:1883/ngsi-ld/notifications/x"))
            #expect(mqtt.status == 400 && mqtt.text.contains("MQTT notifications are not offered"))
        }
    }
}

/// The remaining `/ngsi-ld/v1` reads: the served contexts, one attribute, the temporal query over entities, and the
/// context a request names.
@Suite struct NGSILDContextRoutesTests {
    @Test("the contexts are served without a token, list their URLs, and the city context imports the core")
    func contexts() async throws {
        let harness = Harness()
        try await harness.test { client in
            let list = try await client.execute(uri: "/ngsi-ld/v1/jsonldContexts", method: .get) { (Int($0.status.code), String(buffer: $0.body)) }
            #expect(list.0 == 200 && list.1.contains("/ngsi-ld/v1/jsonldContexts/cip-context.jsonld\""), "\(list.1)")
            let city = try await client.execute(uri: "/ngsi-ld/v1/jsonldContexts/cip-context.jsonld", method: .get) {
                (Int($0.status.code), String(buffer: $0.body), $0.headers[.contentType])
            }
            #expect(city.0 == 200 && city.2 == "application/ld+json")
            let document = try JSONSerialization.jsonObject(with: Data(city.1.utf8)) as? [String: Any]
            let imports = document?["@context"] as? [Any]
            #expect((imports?.first as? String)?.hasSuffix("/ngsi-ld/v1/jsonldContexts/ngsi-ld-core-context-v1.8.jsonld") == true)
            #expect((imports?.last as? [String: Any])?["temperature"] as? String == "https://smartdatamodels.org/temperature")
            let core = try await client.execute(uri: "/ngsi-ld/v1/jsonldContexts/ngsi-ld-core-context-v1.8.jsonld", method: .get) { String(buffer: $0.body) }
            #expect(core.contains(#""observedAt": "https://uri.etsi.org/ngsi-ld/observedAt""#))
            #expect(try await client.execute(uri: "/ngsi-ld/v1/jsonldContexts/other.jsonld", method: .get) { Int($0.status.code) } == 404)
        }
    }

    @Test("one attribute, the temporal query over entities, and names under the request's context")
    func readsUnderAContext() async throws {
        let harness = Harness()
        try await NGSILDRoutesTests.seed(harness)
        try await harness.test { client in
            let attribute = try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/attributes/temperature")
            #expect(attribute.status == 200 && attribute.text.contains(#""typeNames":["Device"]"#), "\(attribute.text)")
            #expect(try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/attributes/position").status == 404, "class 3 is no attribute here")
            let temporal = try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/temporal/entities?type=Device&lastN=2&options=temporalValues&count=true")
            let entities = temporal.json as? [[String: Any]] ?? []
            #expect(entities.count == 2 && ((entities.first?["temperature"] as? [String: Any])?["values"] as? [Any])?.count == 2, "\(temporal.text)")
            // Under an inline context that names temperature otherwise, the city's temperature is shown by its IRI.
            let named = try await client.execute(uri: "/ngsi-ld/v1/entities?type=Device", method: .get, headers: [
                .authorization: "Bearer public",
                HTTPField.Name("Link")!: "<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"",
            ]) { String(buffer: $0.body) }
            #expect(named.contains(#""temperature""#), "the core context keeps the city's names in force beneath it")
            let unknown = try await client.execute(uri: "/ngsi-ld/v1/entities?type=Device", method: .get, headers: [
                .authorization: "Bearer public",
                HTTPField.Name("Link")!: "<https://example.org/ctx.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"",
            ]) { (Int($0.status.code), String(buffer: $0.body)) }
            #expect(unknown.0 == 400 && unknown.1.contains("fetches none"))
            // A Link with another relation is not about the context.
            let other = try await client.execute(uri: "/ngsi-ld/v1/entities?type=Device", method: .get, headers: [
                .authorization: "Bearer public", HTTPField.Name("Link")!: "<https://example.org/ctx.jsonld>; rel=\"next\"",
            ]) { Int($0.status.code) }
            #expect(other == 200)
            #expect(try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/entities?type=Device", accept: "text/html").status == 400)
        }
    }

    @Test("merge and append write values like PATCH attrs; a body naming another id is refused")
    func mergeAndAppend() async throws {
        let harness = Harness()
        try await harness.test { client in
            #expect(try await NGSILDWriteRoutesTests.send(client, .post, "/ngsi-ld/v1/entities", token: "writer-north", body: NGSILDWriteRoutesTests.room).status == 201)
            #expect(try await NGSILDWriteRoutesTests.send(client, .patch, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1", token: "writer-north",
                                                          body: #"{"relativeHumidity": 50}"#).status == 204)
            #expect(try await NGSILDWriteRoutesTests.send(client, .post, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1/attrs", token: "writer-north",
                                                          body: #"{"counter": 7}"#).status == 204)
            let read = try await NGSILDRoutesTests.get(client, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1?options=keyValues")
            let entity = read.json as? [String: Any]
            #expect(entity?["relativeHumidity"] as? Double == 50 && entity?["counter"] as? Double == 7 && entity?["temperature"] as? Double == 21, "\(read.text)")
            let other = try await NGSILDWriteRoutesTests.send(client, .patch, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:1/attrs", token: "writer-north",
                                                              body: #"{"id": "urn:ngsi-ld:Room:2", "counter": 1}"#)
            #expect(other.status == 400)
            #expect(try await NGSILDWriteRoutesTests.send(client, .patch, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:9/attrs", token: "writer-north",
                                                          body: #"{"counter": 1}"#).status == 404)
        }
    }
}
