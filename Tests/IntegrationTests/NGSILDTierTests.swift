import Access
import API
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Models
import Postgres
import Registry
import Storage
import Testing

extension IntegrationTests {
    /// The CIP tier on PostgreSQL: another city system writes entities (stored as observations of external devices),
    /// and they are read back by type, q, geo-query, count, temporal and aggregated queries; refusals name the
    /// attribute; writes are audited; tenants separate writers and readers.
    @Suite(.serialized) struct NGSILDTier {
        struct Clients: ClientAuthenticator {
            static let identities: [String: ClientIdentity] = [
                "writer": ClientIdentity(name: "building-system", roles: [.cipWriter], tenants: ["facilities"], clearance: 1),
                "other-writer": ClientIdentity(name: "other-system", roles: [.cipWriter], tenants: ["schools"], clearance: 1),
                "public": ClientIdentity(name: "public", roles: [.openData], tenants: nil, clearance: 1),
                "public-schools": ClientIdentity(name: "public-schools", roles: [.openData], tenants: ["schools"], clearance: 1),
                "auditor": ClientIdentity(name: "auditor", roles: [.auditor], tenants: nil, clearance: 3),
            ]
            func identity(token: String) async throws -> ClientIdentity? { Self.identities[token] }
        }

        struct Answer {
            var status: Int
            var text: String
            var headers: HTTPFields
            var json: Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }
            var list: [[String: Any]] { json as? [[String: Any]] ?? [] }
            var object: [String: Any] { json as? [String: Any] ?? [:] }
        }

        static func withApp(_ body: @escaping @Sendable (any TestClientProtocol, AuditTrail, TestDatabase) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let trail = AuditTrail(pool: pool, logger: TestStack.logger)
            var dependencies = APIDependencies(
                catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool), authenticator: Clients(), auditTrail: trail,
                openData: PostgresOpenDataRepository(pool: pool))
            dependencies.openDataWriter = PostgresExternalEntities(pool: pool) { values, key, at, connection in
                try IngestStore.insertOpenValues(values, messageKey: key, receivedAtMicros: at, on: connection)
            }
            try await Application(router: buildRouter(dependencies)).test(.router) { client in try await body(client, trail, database) }
        }

        static func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, as token: String,
                         body: String? = nil, contentType: String = "application/ld+json", headers extra: HTTPFields = [:]) async throws -> Answer {
            var headers = extra
            headers[.authorization] = "Bearer \(token)"
            if body != nil { headers[.contentType] = contentType }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                Answer(status: Int(response.status.code), text: String(buffer: response.body), headers: response.headers)
            }
        }

        static let now = Int64(Date().timeIntervalSince1970 * 1e6)
        static func at(_ minutesAgo: Int) -> String { RFC3339.format(micros: now - Int64(minutesAgo) * 60_000_000) }

        /// Two rooms of the city hall (Gothenburg), one school far away.
        static func room(_ id: String, _ temperature: Double, lon: Double, lat: Double, minutesAgo: Int = 1) -> String {
            """
            {"id": "urn:ngsi-ld:IndoorEnvironmentObserved:\(id)", "type": "IndoorEnvironmentObserved",
             "temperature": {"type": "Property", "value": \(temperature), "unitCode": "CEL", "observedAt": "\(at(minutesAgo))"},
             "relativeHumidity": {"value": 40},
             "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [\(lon), \(lat)]}},
             "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"}
            """
        }

        @Test("a writer creates entities that readers find by type, q, count, geo-query and id, in every representation")
        func writeAndRead() async throws {
            try await Self.withApp { client, trail, database in
                let created = try await Self.call(client, .post, "/ngsi-ld/v1/entities/", as: "writer", body: Self.room("hall-1", 21.5, lon: 11.9668, lat: 57.7065))
                #expect(created.status == 201, "\(created.text)")
                #expect(created.headers[.location] == "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1")
                let batch = "[" + Self.room("hall-2", 24.0, lon: 11.9670, lat: 57.7067) + "," + Self.room("school-1", 19.0, lon: 18.07, lat: 59.33) + "]"
                let upsert = try await Self.call(client, .post, "/ngsi-ld/v1/entityOperations/upsert/", as: "writer", body: batch)
                #expect(upsert.status == 201 && upsert.text.contains("hall-2") && upsert.text.contains("school-1"), "\(upsert.text)")
                let again = try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "writer", body: Self.room("hall-1", 22, lon: 11.9668, lat: 57.7065))
                #expect(again.status == 409 && again.text.contains("https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"))
                // Tenants are separate spaces: another tenant's writer learns nothing of this id (its own entity of that
                // id is its own), and cannot change or delete this tenant's.
                #expect(try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "other-writer", body: Self.room("hall-1", 5, lon: 0, lat: 0)).status == 201)
                let schools = try await Self.call(client, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1?options=keyValues", as: "public-schools")
                #expect(schools.object["temperature"] as? Double == 5, "\(schools.text)")
                #expect(try await Self.call(client, .delete, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1", as: "other-writer").status == 204)
                #expect(try await Self.call(client, .delete, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1", as: "other-writer").status == 404)
                let kept = try await Self.call(client, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1?options=keyValues", as: "public")
                #expect(kept.object["temperature"] as? Double == 21.5, "the facilities' entity is untouched: \(kept.text)")

                // count and q, with names of the city context (the default) or full IRIs.
                let type = "IndoorEnvironmentObserved"
                let counted = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&count=true&limit=0", as: "public")
                #expect(counted.status == 200 && counted.text == "[]")
                #expect(counted.headers[HTTPField.Name("NGSILD-Results-Count")!] == "3")
                let warm = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&q=temperature>20&count=true", as: "public")
                #expect(warm.list.compactMap { $0["id"] as? String } == ["urn:ngsi-ld:IndoorEnvironmentObserved:hall-1", "urn:ngsi-ld:IndoorEnvironmentObserved:hall-2"])
                #expect(warm.headers[HTTPField.Name("NGSILD-Results-Count")!] == "2")
                // Pages link to each other.
                let first = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&limit=2", as: "public")
                let links = first.headers[values: HTTPField.Name("Link")!].joined(separator: ", ")
                #expect(links.contains(#"offset=2>; rel="next""#) && !links.contains(#"rel="prev""#) && links.contains("json-ld#context"), "\(links)")
                let second = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&limit=2&offset=2", as: "public")
                let secondLinks = second.headers[values: HTTPField.Name("Link")!].joined(separator: ", ")
                #expect(second.list.count == 1 && secondLinks.contains(#"offset=0>; rel="prev""#) && !secondLinks.contains(#"rel="next""#), "\(secondLinks)")
                let byIRI = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=https://smartdatamodels.org/dataModel.Environment/IndoorEnvironmentObserved&q=https://smartdatamodels.org/temperature==19", as: "public")
                #expect(byIRI.list.count == 1 && byIRI.text.contains("school-1"), "\(byIRI.text)")
                let range = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&q=temperature==20..22", as: "public")
                #expect(range.list.count == 1 && range.text.contains("hall-1"))
                // geo: within 100 m of the city hall; inside a polygon around it; not near.
                let near = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&georel=near;maxDistance==100&geometry=Point&coordinates=%5B11.9669,57.7066%5D", as: "public")
                #expect(near.list.count == 2 && !near.text.contains("school-1"), "\(near.text)")
                let polygon = "%5B%5B%5B11.96,57.70%5D,%5B11.97,57.70%5D,%5B11.97,57.71%5D,%5B11.96,57.71%5D,%5B11.96,57.70%5D%5D%5D"
                let inside = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&georel=within&geometry=Polygon&coordinates=\(polygon)", as: "public")
                #expect(inside.list.count == 2, "\(inside.text)")
                let far = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&georel=near;minDistance==1000&geometry=Point&coordinates=%5B11.9669,57.7066%5D", as: "public")
                #expect(far.list.count == 1 && far.text.contains("school-1"))
                // keyValues, and one entity as JSON-LD with its context.
                let simple = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&q=temperature==24&options=keyValues", as: "public")
                #expect(simple.list.first?["temperature"] as? Double == 24)
                #expect((simple.list.first?["location"] as? [String: Any])?["type"] as? String == "Point")
                let one = try await Self.call(client, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1", as: "public",
                                              headers: [.accept: "application/ld+json"])
                #expect(one.status == 200 && one.headers[.contentType] == "application/ld+json")
                #expect((one.object["temperature"] as? [String: Any])?["unitCode"] as? String == "CEL")
                #expect((one.object["@context"] as? String)?.hasSuffix("/ngsi-ld/v1/jsonldContexts/cip-context.jsonld") == true)
                // Tenants: a reader of schools does not see the facilities' entities; NGSILD-Tenant narrows a reader.
                #expect(try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)", as: "public-schools").text == "[]")
                let tenant = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)", as: "public",
                                                 headers: [HTTPField.Name("NGSILD-Tenant")!: "facilities"])
                #expect(tenant.list.count == 3)
                let foreign = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)", as: "public-schools",
                                                  headers: [HTTPField.Name("NGSILD-Tenant")!: "facilities"])
                #expect(foreign.status == 404 && foreign.text.contains("NonexistentTenant"))
                // Types and attributes.
                let types = try await Self.call(client, .get, "/ngsi-ld/v1/types?details=true", as: "public")
                #expect(types.text.contains(#""typeName":"IndoorEnvironmentObserved""#) && types.text.contains("relativeHumidity"), "\(types.text)")
                let attributes = try await Self.call(client, .get, "/ngsi-ld/v1/attributes", as: "public")
                #expect(attributes.text.contains(#""attributeList":["relativeHumidity","temperature"]"#), "\(attributes.text)")
                let info = try await Self.call(client, .get, "/ngsi-ld/v1/types/IndoorEnvironmentObserved", as: "public")
                #expect(info.object["entityCount"] as? Double == 3)
                let byEncodedIRI = try await Self.call(client, .get, "/ngsi-ld/v1/types/https%3A%2F%2Fsmartdatamodels.org%2FdataModel.Environment%2FIndoorEnvironmentObserved", as: "public")
                #expect(byEncodedIRI.object["entityCount"] as? Double == 3, "\(byEncodedIRI.text)")
                #expect(try await Self.call(client, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1?attrs=counter", as: "public").status == 404)
                #expect(try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&attrs=id", as: "public").status == 400)
                let spaced = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=\(type)&georel=near;maxDistance==100&geometry=Point&coordinates=%5B11.9669,+57.7066%5D", as: "public")
                #expect(spaced.list.count == 2, "a space written as +: \(spaced.text)")

                // The writes are audited, with the external devices as subjects.
                await trail.flush()
                let connection = try database.connect()
                defer { connection.close() }
                let audited = try connection.query("SELECT count(*)::bigint AS n FROM audit_log WHERE client = 'building-system' AND method = 'POST'").first
                #expect(try audited?.decode("n") as Int64? == 2)
                let devices = try connection.query("SELECT count(*)::bigint AS n FROM devices WHERE type = 'external' AND tenant = 'facilities' AND lifecycle_state = 'active'").first
                #expect(try devices?.decode("n") as Int64? == 3)
            }
        }

        @Test("what does not map to an open catalogue quantity is refused naming the attribute; Device ids are not written")
        func refusals() async throws {
            try await Self.withApp { client, _, _ in
                func refused(_ body: String, _ error: String, _ fragment: String, contentType: String = "application/json") async throws {
                    let answer = try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "writer", body: body, contentType: contentType)
                    #expect([400, 415, 422, 503].contains(answer.status), "\(body): \(answer.status)")
                    #expect(answer.text.contains(error) && answer.text.contains(fragment), "\(body): \(answer.text)")
                }
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","batteryLevel":{"value":50}}"#, "BadRequestData", "class 2")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","location_text":{"value":"x"},"locationText":{"value":"kitchen"}}"#, "BadRequestData", "location")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","co2":{"value":400}}"#, "BadRequestData", "co2")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","temperature":{"value":"warm"}}"#, "BadRequestData", "temperature")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","temperature":{"value":900}}"#, "BadRequestData", "above")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","temperature":{"value":20,"unitCode":"FAH"}}"#, "BadRequestData", "unitCode")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","temperature":{"value":20,"observedAt":"2999-01-01T00:00:00Z"}}"#, "BadRequestData", "future")
                try await refused(#"{"id":"urn:ngsi-ld:Device:sensor-1","type":"Room","temperature":20}"#, "BadRequestData", "gateway's own devices")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Device","temperature":20}"#, "BadRequestData", "Device")
                try await refused(#"{"id":"not a uri","type":"Room"}"#, "BadRequestData", "id")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","temperature":{"type":"Relationship","object":"urn:x:y"}}"#, "OperationNotSupported", "Property")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","@context":"https://example.org/unknown.jsonld","temperature":20}"#, "BadRequestData", "example.org", contentType: "application/ld+json")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","@context":"","temperature":20}"#, "BadRequestData", "context", contentType: "application/ld+json")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","temperature":20}"#, "BadRequestData", "carries its @context", contentType: "application/ld+json")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"type","temperature":20}"#, "BadRequestData", "keyword")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","scope":"/Madrid","temperature":20}"#, "OperationNotSupported", "scope")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1","type":"Room","@context":"x","temperature":20}"#, "BadRequestData", "application/json", contentType: "application/json")
                try await refused(#"{"id":"urn:ngsi-ld:Room:1",,}"#, "InvalidRequest", "line 1")
                try await refused("temperature=20", "InvalidRequest", "Content-Type", contentType: "text/plain")
                // A careless client: the reader role cannot write, the writer of two tenants must name one.
                #expect(try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "public", body: Self.room("x", 1, lon: 0, lat: 0)).status == 403)
                // Nothing of the refused writes was stored.
                let count = try await Self.call(client, .get, "/ngsi-ld/v1/entities?type=Room&count=true", as: "public")
                #expect(count.headers[HTTPField.Name("NGSILD-Results-Count")!] == "0")
                // A batch stores what passes and names what did not (207).
                let batch = #"[{"id":"urn:ngsi-ld:Room:2","type":"Room","temperature":20},{"id":"urn:ngsi-ld:Room:3","type":"Room","battery":3},{"id":"urn:ngsi-ld:Room:4","type":"Room","temperature":20,"@context":"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"}]"#
                let mixed = try await Self.call(client, .post, "/ngsi-ld/v1/entityOperations/create", as: "writer", body: batch, contentType: "application/json")
                #expect(mixed.status == 207 && mixed.text.contains(#""success":["urn:ngsi-ld:Room:2"]"#) && mixed.text.contains("urn:ngsi-ld:Room:3"), "\(mixed.text)")
                #expect(mixed.text.contains("urn:ngsi-ld:Room:4") && mixed.text.contains("@context in an entity sent as application/json"), "each entity judged on its own")
                // A member that is not an entity stops the whole batch before anything is written.
                let broken = try await Self.call(client, .post, "/ngsi-ld/v1/entityOperations/create", as: "writer",
                                                 body: #"[{"id":"urn:ngsi-ld:Room:5","type":"Room","temperature":20}, null]"#)
                #expect(broken.status == 400 && broken.text.contains("member 1"), "\(broken.text)")
                #expect(try await Self.call(client, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:5", as: "public").status == 404)
                // An unknown entity is 404 whatever its body; a delete of another type deletes nothing.
                #expect(try await Self.call(client, .patch, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:9/attrs", as: "writer", body: "junk").status == 404)
                #expect(try await Self.call(client, .delete, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:2?type=Vehicle", as: "writer").status == 404)
                #expect(try await Self.call(client, .get, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:2", as: "public").status == 200)
                #expect(try await Self.call(client, .delete, "/ngsi-ld/v1/entities/urn:ngsi-ld:Room:2?type=Room", as: "writer").status == 204)
            }
        }

        @Test("updates add values over time; temporal reads page with Content-Range and aggregate by period")
        func temporal() async throws {
            try await Self.withApp { client, _, database in
                #expect(try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "writer", body: Self.room("hall-1", 20, lon: 11.97, lat: 57.71, minutesAgo: 180)).status == 201)
                for minutes in [120, 60] {
                    let patch = #"{"temperature":{"type":"Property","value":\#(30 - Double(minutes) / 12),"observedAt":"\#(Self.at(minutes))"}}"#
                    let answer = try await Self.call(client, .patch, "/ngsi-ld/v1/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1/attrs", as: "writer",
                                                     body: patch, contentType: "application/json")
                    #expect(answer.status == 204, "\(answer.text)")
                }
                let uri = "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:IndoorEnvironmentObserved:hall-1"
                let simplified = try await Self.call(client, .get, uri + "?attrs=temperature&options=temporalValues&lastN=10", as: "public")
                let values = ((simplified.object["temperature"] as? [String: Any])?["values"] as? [[Any]])?.compactMap { $0.first as? Double }
                #expect(values == [25, 20, 20], "\(simplified.text)")
                let between = "timerel=between&timeAt=\(Self.at(200))&endTimeAt=\(Self.at(0))"
                let hourly = try await Self.call(client, .get, uri + "?attrs=temperature&options=aggregatedValues&aggrMethods=avg,max,totalCount&aggrPeriodDuration=PT4H&\(between)", as: "public")
                let aggregate = hourly.object["temperature"] as? [String: Any]
                #expect((aggregate?["totalCount"] as? [[Any]])?.first?.first as? Double == 3, "\(hourly.text)")
                #expect((aggregate?["max"] as? [[Any]])?.first?.first as? Double == 25)
                #expect(abs(((aggregate?["avg"] as? [[Any]])?.first?.first as? Double ?? 0) - 65.0 / 3) < 1e-9)
                let whole = try await Self.call(client, .get, uri + "?attrs=temperature&options=aggregatedValues&aggrMethods=totalCount&aggrPeriodDuration=PT1H", as: "public")
                #expect(whole.status == 200 && ((whole.object["temperature"] as? [String: Any])?["totalCount"] as? [[Any]])?.compactMap { $0.first as? Double }.reduce(0, +) == 3,
                        "from the first value, not from as far back as anything is kept: \(whole.text)")
                #expect(try await Self.call(client, .get, uri + "?options=aggregatedValues&aggrMethods=stddev", as: "public").status == 422)
                // An empty or inverted range is an empty answer, never a division by a zero period.
                for timeAt in [RFC3339.format(micros: Self.now + 3_600_000_000), RFC3339.format(micros: Int64(Date().timeIntervalSince1970 * 1e6))] {
                    let empty = try await Self.call(client, .get, uri + "?options=aggregatedValues&aggrMethods=avg&timerel=after&timeAt=\(timeAt)", as: "public")
                    #expect(empty.status == 200, "\(empty.text)")
                }
                #expect(try await Self.call(client, .get, uri + "?options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=P1M", as: "public").status == 422)
                #expect(try await Self.call(client, .get, uri + "?options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1S", as: "public").status == 403)

                // 1,500 more values: an answer holds 1,000, with the range it covers; the next page continues after it.
                let connection = try database.connect()
                defer { connection.close() }
                try connection.execute("""
                    INSERT INTO observations (device_id, quantity, value_number, unit, observed_at, received_at, message_key, record_index, confidentiality)
                    SELECT x.device_id, 'temperature', 10 + n % 10, 'Cel', now() - interval '10 days' + n * interval '1 second', now(), '\\x0a', n, 1
                    FROM generate_series(1, 1500) n, cip_entities x WHERE x.entity_id = 'urn:ngsi-ld:IndoorEnvironmentObserved:hall-1'
                    """)
                let first = try await Self.call(client, .get, uri + "?attrs=temperature&timerel=after&timeAt=\(Self.at(11 * 24 * 60))", as: "public")
                #expect(first.status == 206, "\(first.status)")
                let contentRange = try #require(first.headers[.contentRange])
                #expect(contentRange.hasPrefix("date-time ") && contentRange.hasSuffix("/*"))
                #expect((first.object["temperature"] as? [Any])?.count == 1_000)
                let end = String(contentRange.dropFirst("date-time ".count).dropLast(2).split(separator: "Z-")[1])
                let next = try await Self.call(client, .get, uri + "?attrs=temperature&timerel=after&timeAt=\(end)", as: "public")
                #expect(next.status == 200, "\(end): \(next.status) \(next.headers[.contentRange] ?? "")")
                #expect((next.object["temperature"] as? [Any])?.count == 503, "500 left of the series and the three written")
            }
        }

        @Test("a deleted entity is gone from reads, its device decommissioned, its values kept; the id can be written anew")
        func deletion() async throws {
            try await Self.withApp { client, _, database in
                #expect(try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "writer", body: Self.room("hall-1", 20, lon: 11.97, lat: 57.71)).status == 201)
                let id = "urn:ngsi-ld:IndoorEnvironmentObserved:hall-1"
                #expect(try await Self.call(client, .delete, "/ngsi-ld/v1/entities/\(id)", as: "writer").status == 204)
                #expect(try await Self.call(client, .get, "/ngsi-ld/v1/entities/\(id)", as: "public").status == 404)
                #expect(try await Self.call(client, .delete, "/ngsi-ld/v1/entities/\(id)", as: "writer").status == 404)
                #expect(try await Self.call(client, .post, "/ngsi-ld/v1/entities", as: "writer", body: Self.room("hall-1", 23, lon: 11.97, lat: 57.71)).status == 201)
                let connection = try database.connect()
                defer { connection.close() }
                let states = try connection.query("SELECT lifecycle_state FROM devices WHERE type = 'external' ORDER BY created_at").all
                    .map { row throws(PostgresError) in try row.decode("lifecycle_state") as String }
                #expect(states == ["decommissioned", "active"])
                let kept = try connection.query("SELECT count(*)::bigint AS n FROM observations WHERE quantity = 'temperature'").first
                #expect(try kept?.decode("n") as Int64? == 2)
                let batchDelete = try await Self.call(client, .post, "/ngsi-ld/v1/entityOperations/delete", as: "writer",
                                                      body: #"["\#(id)","urn:ngsi-ld:X:none"]"#, contentType: "application/json")
                #expect(batchDelete.status == 207 && batchDelete.text.contains("ResourceNotFound"), "\(batchDelete.text)")
            }
        }
    }
}
