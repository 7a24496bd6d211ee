import Access
import API
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Models
import NGSILD
import Notifications
import Postgres
import Registry
import Storage
import Synchronization
import MQTT
import Testing

extension IntegrationTests {
    /// Subscriptions on PostgreSQL: a change of an open value is noted by the database in its own transaction, the
    /// matcher turns it into a notification in the outbox, delivery posts it to a real HTTP endpoint, retries with
    /// backoff while the endpoint is down, keeps order, bounds what waits, and reports how it fared.
    @Suite(.serialized) struct NGSILDSubscriptions {
        struct Context {
            var client: any TestClientProtocol
            var database: TestDatabase
            var matcher: NotificationMatcher
            var delivery: NotificationDelivery
            var receiver: NotificationReceiver
            var published: PublishedLog
        }

        final class PublishedLog: Sendable {
            let messages = Mutex<[(String, String)]>([])
        }

        static func withApp(maxPending: Int = 1_000, _ body: @escaping @Sendable (Context) async throws -> Void) async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            let pool = PostgresPool(url: database.url, size: 2, logger: TestStack.logger)
            let receiver = NotificationReceiver()
            let endpoints = NotificationEndpoints(allowedHosts: ["127.0.0.1"], broker: "127.0.0.1:1883")
            var dependencies = APIDependencies(
                catalogue: try TestStack.catalogue(), telemetry: PostgresTelemetryRepository(pool: pool),
                devices: PostgresDeviceRepository(pool: pool), authenticator: NGSILDTier.Clients(),
                auditTrail: AuditTrail(pool: pool, logger: TestStack.logger), openData: PostgresOpenDataRepository(pool: pool))
            dependencies.openDataWriter = PostgresExternalEntities(pool: pool) { values, key, at, connection in
                try IngestStore.insertOpenValues(values, messageKey: key, receivedAtMicros: at, on: connection)
            }
            dependencies.subscriptions = PostgresSubscriptions(pool: pool)
            dependencies.notificationEndpoints = endpoints
            var matching = NotificationMatcher.Configuration()
            matching.maxPending = maxPending
            let matcher = NotificationMatcher(store: PostgresSubscriptions(pool: pool), vocabulary: OpenVocabulary(catalogue: try TestStack.catalogue()),
                                              configuration: matching, logger: TestStack.logger)
            let published = PublishedLog()
            let delivery = NotificationDelivery(store: PostgresSubscriptions(pool: pool), endpoints: endpoints,
                                                publish: { topic, payload in published.messages.withLock { $0.append((topic, String(decoding: payload, as: UTF8.self))) } },
                                                logger: TestStack.logger)
            try receiver.start()
            defer { receiver.stop() }
            try await Application(router: buildRouter(dependencies)).test(.router) { client in
                try await body(Context(client: client, database: database, matcher: matcher, delivery: delivery, receiver: receiver, published: published))
            }
        }

        static func subscribe(_ context: Context, uri: String, extra: String = "", as token: String = "public") async throws -> NGSILDTier.Answer {
            try await NGSILDTier.call(context.client, .post, "/ngsi-ld/v1/subscriptions/", as: token, body: """
                {"type": "Subscription", "entities": [{"type": "IndoorEnvironmentObserved"}], "watchedAttributes": ["temperature"],
                 "q": "temperature>25", \(extra) "notification": {"endpoint": {"uri": "\(uri)"}}}
                """, contentType: "application/json")
        }

        static func write(_ context: Context, _ temperature: Double, room: String = "hall-1") async throws {
            let upsert = try await NGSILDTier.call(context.client, .post, "/ngsi-ld/v1/entityOperations/upsert", as: "writer",
                                                   body: "[" + NGSILDTier.room(room, temperature, lon: 11.97, lat: 57.71, minutesAgo: 0) + "]")
            #expect([201, 204].contains(upsert.status), "\(upsert.text)")
        }

        static func scalar(_ database: TestDatabase, _ sql: String) throws -> Int64 {
            let connection = try database.connect()
            defer { connection.close() }
            return try connection.query(sql).first?.decode("n") ?? -1
        }

        @Test("a matching change reaches the endpoint once, in NGSI-LD's notification format; others do not")
        func delivered() async throws {
            try await Self.withApp { context in
                let made = try await Self.subscribe(context, uri: "http://127.0.0.1:\(context.receiver.port)/notify")
                #expect(made.status == 201, "\(made.text)")
                let location = try #require(made.headers[.location])
                try await Self.write(context, 26)
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_changes") >= 1, "noted with the change")
                #expect(try await context.matcher.roundOnce() >= 1)
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_changes") == 0)
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 1)
                #expect(try await context.delivery.roundOnce() == 1)
                let received = context.receiver.received
                #expect(received.count == 1 && received.first?.path == "/notify")
                let notification = try #require(received.first?.json)
                #expect(notification["type"] as? String == "Notification")
                #expect(notification["subscriptionId"] as? String == String(location.dropFirst("/ngsi-ld/v1/subscriptions/".count)))
                let entity = (notification["data"] as? [[String: Any]])?.first
                #expect(entity?["id"] as? String == "urn:ngsi-ld:IndoorEnvironmentObserved:hall-1")
                #expect((entity?["temperature"] as? [String: Any])?["value"] as? Double == 26)
                #expect(received.first?.headers["content-type"] == "application/json")
                #expect(received.first?.headers["link"]?.contains("cip-context.jsonld") == true)
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0)
                // Not warm enough: no notification.
                try await Self.write(context, 20)
                _ = try await context.matcher.roundOnce()
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0)
                // The subscription tells how it fared.
                let got = try await NGSILDTier.call(context.client, .get, location, as: "public")
                let status = got.object["notification"] as? [String: Any]
                #expect(status?["timesSent"] as? Double == 1 && status?["lastSuccess"] != nil && got.object["status"] as? String == "active", "\(got.text)")
                // Another client does not see it, nor delete it.
                #expect(try await NGSILDTier.call(context.client, .get, location, as: "public-schools").status == 404)
                #expect(try await NGSILDTier.call(context.client, .delete, location, as: "public-schools").status == 404)
                #expect(try await NGSILDTier.call(context.client, .get, "/ngsi-ld/v1/subscriptions", as: "public-schools").text == "[]")
                #expect(try await NGSILDTier.call(context.client, .delete, location, as: "public").status == 204)
            }
        }

        @Test("while the endpoint is down a notification waits with backoff and in order, then arrives; the outbox is bounded")
        func downEndpoint() async throws {
            try await Self.withApp(maxPending: 3) { context in
                context.receiver.status = 503
                let made = try await Self.subscribe(context, uri: "http://127.0.0.1:\(context.receiver.port)/notify")
                let location = try #require(made.headers[.location])
                for temperature in [26.0, 27, 28, 29, 30] {
                    try await Self.write(context, temperature)
                    _ = try await context.matcher.roundOnce()
                }
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 3, "the two oldest dropped")
                #expect(try await context.delivery.roundOnce() == 1, "one at a time per subscription")
                #expect(try await context.delivery.roundOnce() == 0, "the failed one waits for its backoff")
                let failed = try await NGSILDTier.call(context.client, .get, location, as: "public")
                let status = failed.object["notification"] as? [String: Any]
                #expect(status?["status"] as? String == "failed" && status?["timesFailed"] as? Double == 1 && status?["dropped"] as? Double == 2, "\(failed.text)")
                #expect((status?["lastFailureReason"] as? String)?.contains("503") == true)
                #expect(try Self.scalar(context.database, "SELECT max(attempts)::bigint AS n FROM ngsi_notifications") == 1)
                // The endpoint is back; the backoff has passed.
                context.receiver.status = 200
                let connection = try context.database.connect()
                try connection.execute("UPDATE ngsi_notifications SET next_attempt_at = now()")
                connection.close()
                for _ in 0..<3 { _ = try await context.delivery.roundOnce() }
                let temperatures = context.receiver.received.compactMap { received in
                    ((received.json?["data"] as? [[String: Any]])?.first?["temperature"] as? [String: Any])?["value"] as? Double
                }
                #expect(temperatures == [28, 29, 30], "in order, after the dropped ones")
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0)
            }
        }

        @Test("two gateways' deliveries send a notification once; a slow endpoint holds up no other subscription")
        func claimsAndSlots() async throws {
            try await Self.withApp { context in
                let slow = NotificationReceiver()
                try slow.start()
                defer { slow.stop() }
                slow.delay = 3
                #expect(try await Self.subscribe(context, uri: "http://127.0.0.1:\(slow.port)/slow").status == 201)
                #expect(try await Self.subscribe(context, uri: "http://127.0.0.1:\(context.receiver.port)/fast").status == 201)
                try await Self.write(context, 26)
                _ = try await context.matcher.roundOnce()
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 2)
                // The slow one is in flight (claimed) while the fast one goes, and another gateway finds nothing to take.
                let delivering = Task { try await context.delivery.roundOnce() }
                #expect(await eventually(timeout: 2) { context.receiver.received.count == 1 }, "the fast endpoint did not wait for the slow one")
                #expect(try await context.delivery.roundOnce() == 0, "both claimed by the first gateway")
                _ = try await delivering.value
                #expect(slow.received.count == 1 && context.receiver.received.count == 1, "each sent once")
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0)
            }
        }

        @Test("a host allowed only through * must resolve to public addresses: localhost is refused, named it is reached")
        func publicOnly() async throws {
            let receiver = NotificationReceiver()
            try receiver.start()
            defer { receiver.stop() }
            let notifier = HTTPNotifier()
            for host in ["localhost", "127.0.0.1"] {
                await #expect(throws: HTTPNotifier.Failure.self, "\(host)") {
                    try await notifier.post("http://\(host):\(receiver.port)/n", body: Array("{}".utf8), headers: [], publicOnly: true)
                }
            }
            #expect(receiver.received.isEmpty, "nothing reached the private address")
            #expect(try await notifier.post("http://localhost:\(receiver.port)/n", body: Array("{}".utf8), headers: [("Content-Type", "application/json")]) == 200)
            #expect(receiver.received.count == 1)
        }

        @Test("throttling, pausing and endpoints the operator did not allow; MQTT endpoints publish on the broker")
        func rules() async throws {
            try await Self.withApp { context in
                let elsewhere = try await Self.subscribe(context, uri: "http://10.1.2.3/notify")
                #expect(elsewhere.status == 400 && elsewhere.text.contains("notification-hosts"), "\(elsewhere.text)")
                let throttled = try await Self.subscribe(context, uri: "http://127.0.0.1:\(context.receiver.port)/t", extra: #""throttling": 3600,"#)
                #expect(throttled.status == 201)
                try await Self.write(context, 26)
                _ = try await context.matcher.roundOnce()
                try await Self.write(context, 27)
                _ = try await context.matcher.roundOnce()
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 1, "the second within the hour")
                let location = try #require(throttled.headers[.location])
                let pause = try await NGSILDTier.call(context.client, .patch, location, as: "public", body: #"{"isActive": false}"#, contentType: "application/json")
                #expect(pause.status == 204)
                #expect(try await context.delivery.roundOnce() == 0, "a paused subscription sends nothing")
                #expect(try await NGSILDTier.call(context.client, .get, location, as: "public").object["status"] as? String == "paused")
                #expect(try await NGSILDTier.call(context.client, .delete, location, as: "public").status == 204)
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0, "gone with it")

                let foreignTopic = try await Self.subscribe(context, uri: "mqtt://127.0.0.1:1883/ngsi-ld/notifications/other-client/rooms")
                #expect(foreignTopic.status == 400 && foreignTopic.text.contains("ngsi-ld/notifications/public/"), "another client's topics: \(foreignTopic.text)")
                let mqtt = try await Self.subscribe(context, uri: "mqtt://127.0.0.1:1883/ngsi-ld/notifications/public/rooms", extra: #""throttling": 0,"#)
                #expect(mqtt.status == 201, "\(mqtt.text)")
                try await Self.write(context, 31)
                _ = try await context.matcher.roundOnce()
                _ = try await context.delivery.roundOnce()
                let published = context.published.messages.withLock { $0 }
                #expect(published.count == 1 && published.first?.0 == "ngsi-ld/notifications/public/rooms", "\(published)")
                // The MQTT binding: the notification as body, its headers as metadata.
                let message = try JSONSerialization.jsonObject(with: Data((published.first?.1 ?? "").utf8)) as? [String: Any]
                #expect((message?["metadata"] as? [String: Any])?["Content-Type"] as? String == "application/json")
                #expect(((message?["body"] as? [String: Any])?["data"] as? [[String: Any]])?.first?["id"] as? String == "urn:ngsi-ld:IndoorEnvironmentObserved:hall-1")
                // The client's tenants now bound what its subscriptions see; a revoked client's get nothing more.
                let connection = try context.database.connect()
                try connection.execute("""
                    INSERT INTO api_clients (name, roles, tenants, clearance, token_hash) VALUES ('public', '{open-data}', '{schools}', 1, '\\x01')
                    """)
                try await Self.write(context, 32)
                _ = try await context.matcher.roundOnce()
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0, "facilities are no longer the client's")
                try connection.execute("UPDATE api_clients SET tenants = '{*}', revoked_at = now() WHERE name = 'public'")
                try await Self.write(context, 33)
                _ = try await context.matcher.roundOnce()
                #expect(try Self.scalar(context.database, "SELECT count(*)::bigint AS n FROM ngsi_notifications") == 0, "revoked")
                try connection.execute("UPDATE api_clients SET revoked_at = NULL WHERE name = 'public'")
                connection.close()
                // Hostile subscriptions: too many, odd ids, junk.
                #expect(try await NGSILDTier.call(context.client, .post, "/ngsi-ld/v1/subscriptions", as: "public", body: "[]", contentType: "application/json").status == 400)
                #expect(try await NGSILDTier.call(context.client, .get, "/ngsi-ld/v1/subscriptions/not%20a%20uri", as: "public").status == 400)
                let duplicate = try await NGSILDTier.call(context.client, .post, "/ngsi-ld/v1/subscriptions", as: "public", body: """
                    {"id": "urn:x:1", "type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://127.0.0.1/x"}}}
                    """, contentType: "application/json")
                #expect(duplicate.status == 201)
                let again = try await NGSILDTier.call(context.client, .post, "/ngsi-ld/v1/subscriptions", as: "public-schools", body: """
                    {"id": "urn:x:1", "type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://127.0.0.1/x"}}}
                    """, contentType: "application/json")
                #expect(again.status == 409 && again.text.contains("AlreadyExists"))
            }
        }
    }
}

extension IntegrationTests {
    /// The real gateway, broker and database: a sensor's temperature over MQTT notifies an HTTP endpoint that is down
    /// (it answers 503) and an MQTT endpoint on the broker; the gateway is killed with the HTTP notification still in
    /// its outbox and, restarted, delivers it now that the endpoint is back.
    @Suite(.serialized) struct NGSILDNotificationDurability {
        @Test("a notification waiting for a down endpoint survives a SIGKILL of the gateway; MQTT notifications reach the broker")
        func survivesRestart() async throws {
            let database = try TestDatabase.create()
            defer { database.drop() }
            _ = try database.register(["room-1"], type: "sensor")
            // The city system's endpoint is down: it answers 503 until it is back.
            let receiver = NotificationReceiver()
            receiver.status = 503
            try receiver.start()
            defer { receiver.stop() }
            let gateway = GatewayProcess(databaseURL: database.url)
            defer { gateway.cleanUp() }
            gateway.extraEnvironment["CIP_NOTIFICATION_HOSTS"] = "127.0.0.1"
            try gateway.start()
            try await gateway.waitUntilReady()
            // Over real HTTP the context URLs are the request's Host.
            let contexts = try gateway.httpGet("/ngsi-ld/v1/jsonldContexts", token: nil)
            #expect(contexts.status == 200 && contexts.body.contains("http://127.0.0.1/ngsi-ld/v1/jsonldContexts/cip-context.jsonld"), "\(contexts.body)")

            let topic = "ngsi-ld/notifications/test-all/" + TestStack.uniqueName("rooms")
            let heard = Mutex<[String]>([])
            var configuration = try TestStack.mqtt(TestStack.uniqueName("notification-reader"), TestStack.bridgeAccount)
            configuration.subscriptions = [(topic, 1)]
            let reader = try MQTTClient(configuration: configuration, logger: TestStack.logger) { message in
                heard.withLock { $0.append(String(decoding: message.payload, as: UTF8.self)) }
            }
            try reader.connect()
            defer { reader.stop() }

            for uri in ["http://127.0.0.1:\(receiver.port)/notify", TestStack.mqttURL + "/" + topic] {
                let made = try gateway.httpSend("POST", "/ngsi-ld/v1/subscriptions", json: """
                    {"type": "Subscription", "entities": [{"type": "Device"}], "watchedAttributes": ["temperature"],
                     "notification": {"format": "keyValues", "endpoint": {"uri": "\(uri)"}}}
                    """)
                #expect(made.status == 201, "\(uri): \(made.body)")
            }
            try await Task.sleep(for: .milliseconds(300))  // the reader's subscription is in place
            let device = try makePublisher("notification-sensor")
            defer { device.stop() }
            try device.publish(topic: "devices/room-1/telemetry", payload: Array(#"[{"n":"temperature","u":"Cel","v":26.5}]"#.utf8), qos: 1)
            #expect(device.waitForAcknowledgements(timeout: 10))

            #expect(await eventually(timeout: 30) { heard.withLock { !$0.isEmpty } }, "gateway log: \(gateway.logTail())")
            let mqtt = try #require(heard.withLock { $0.first })
            #expect(mqtt.hasPrefix(#"{"body":"#) && mqtt.contains("urn:ngsi-ld:Device:room-1") && mqtt.contains("26.5"), "\(mqtt)")
            #expect(try await eventually(timeout: 30) {
                try database.count("SELECT count(*) FROM ngsi_notifications WHERE attempts >= 1") == 1
            }, "the HTTP notification failed at least once: \(gateway.logTail())")

            gateway.kill()
            receiver.status = 200
            try gateway.start()
            try await gateway.waitUntilReady()
            #expect(await eventually(timeout: 90) { receiver.received.count == 1 }, "gateway log: \(gateway.logTail())")
            let body = try #require(receiver.received.first?.json)
            let entity = (body["data"] as? [[String: Any]])?.first
            #expect(entity?["id"] as? String == "urn:ngsi-ld:Device:room-1" && entity?["temperature"] as? Double == 26.5, "\(body)")
            #expect(try await eventually(timeout: 10) { try database.count("SELECT count(*) FROM ngsi_notifications") == 0 })
            #expect(heard.withLock { $0.count } == 1, "the MQTT notification was sent once")
        }
    }
}
