import Models
import NGSILD
import Telemetry
import Testing

/// Subscriptions: what a request may ask for, which changes notify, throttling and expiry, the notification's
/// shape, and where notifications may go.
@Suite struct SubscriptionTests {
    static let vocabulary = OpenVocabulary(catalogue: try! Catalogue.loadDefault())
    static let now: Int64 = 1_800_000_000_000_000

    static func parse(_ text: String) throws -> Subscription {
        try Subscription.parse(try JSON.parse(Array(text.utf8)), context: vocabulary.context, contexts: ["http://gw/ctx.jsonld"],
                               vocabulary: vocabulary, nowMicros: now) { "urn:ngsi-ld:Subscription:new" }
    }

    static let warmRooms = #"""
        {"type": "Subscription", "entities": [{"type": "IndoorEnvironmentObserved"}], "watchedAttributes": ["temperature"],
         "q": "temperature>25", "throttling": 60, "notification": {"attributes": ["temperature", "location"], "format": "keyValues",
         "endpoint": {"uri": "http://127.0.0.1:9999/notify", "accept": "application/ld+json"}}}
        """#

    static func entity(_ id: String, type: String = "https://smartdatamodels.org/dataModel.Environment/IndoorEnvironmentObserved",
                       tenant: String = "north") -> OpenEntity {
        OpenEntity(deviceID: "ext-\(id)", entityID: "urn:ngsi-ld:X:\(id)", entityType: type, tenant: tenant,
                   location: OpenPoint(latitude: 57.7, longitude: 11.9), createdAtMicros: 0, modifiedAtMicros: 0)
    }

    static func change(_ id: String, temperature: Double, changed: Set<String> = ["temperature"], tenant: String = "north") -> ChangedEntity {
        ChangedEntity(entity: entity(id, tenant: tenant),
                      latest: [OpenValue(deviceID: "ext-\(id)", quantity: "temperature", number: temperature, unit: "Cel", observedAtMicros: now),
                               OpenValue(deviceID: "ext-\(id)", quantity: "humidity", number: 40, unit: "%RH", observedAtMicros: now)],
                      changed: changed)
    }

    @Test func aSubscriptionIsReadWithItsNamesResolved() throws {
        let subscription = try Self.parse(Self.warmRooms)
        #expect(subscription.id == "urn:ngsi-ld:Subscription:new")
        #expect(subscription.entities == [.init(id: nil, type: "https://smartdatamodels.org/dataModel.Environment/IndoorEnvironmentObserved")])
        #expect(subscription.watchedAttributes == ["temperature"])
        #expect(subscription.conditions == [OpenValueCondition(quantity: "temperature", op: .greater, number: 25)])
        #expect(subscription.notifiedAttributes == ["temperature"] && subscription.notifiesLocation)
        #expect(subscription.format == .keyValues && subscription.throttlingSeconds == 60)
        #expect(subscription.endpoint.scheme == .http && subscription.endpoint.authority == "127.0.0.1:9999" && subscription.endpoint.wantsLD)
    }

    @Test(arguments: [
        (#"{"type": "Subscription", "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "entities or watchedAttributes"),
        (#"{"type": "Subscription", "watchedAttributes": ["batteryLevel"], "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "batteryLevel"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"]}"#, "notification"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "ftp://h/n"}}}"#, "ftp"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://u:p@h/n"}}}"#, "credentials"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "mqtt://b:1883/devices/x"}}}"#, "ngsi-ld/notifications/"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "mqtt://b:1883/ngsi-ld/notifications/#"}}}"#, "wildcards"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "expiresAt": "2020-01-01T00:00:00Z", "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "future"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "throttling": -1, "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "throttling"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "timeInterval": 60, "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "timeInterval"),
        (#"{"type": "Subscription", "entities": [{"idPattern": "urn:x:.*", "type": "T"}], "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "idPattern"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "q": "position==1", "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "position"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"format": "xml", "endpoint": {"uri": "http://h/n"}}}"#, "format"),
        (#"{"type": "Nope", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "Subscription"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://h/x%20HTTP/1.1%0D%0AX-Evil:%201"}}}"#, "control characters"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://h/n?a=%0Ab"}}}"#, "control characters"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "notification": {"endpoint": {"uri": "http://h/n", "receiverInfo": [{"key": "k", "value": "v"}]}}}"#, "receiverInfo"),
        (#"{"type": "Subscription", "watchedAttributes": ["temperature"], "throttling": 5, "timeInterval": 5, "notification": {"endpoint": {"uri": "http://h/n"}}}"#, "exclude each other"),
    ])
    func refusedWithTheMemberNamed(_ text: String, _ fragment: String) {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted: \(text)")
        } catch let failure as NGSILDFailure {
            #expect(failure.detail.contains(fragment), "\(failure.detail)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func anyIdPatternIsNoPattern() throws {
        let subscription = try Self.parse(#"{"type": "Subscription", "entities": [{"idPattern": ".*", "type": "T"}], "notification": {"endpoint": {"uri": "http://h/n"}}}"#)
        #expect(subscription.entities == [.init(id: nil, type: LDContext.defaultVocabulary + "T")])
    }

    @Test func aPatchChangesOnlyWhatItGives() throws {
        let base = try Self.parse(Self.warmRooms)
        let changed = try Subscription.parse(try JSON.parse(Array(#"{"throttling": 0, "isActive": false}"#.utf8)), context: Self.vocabulary.context,
                                             contexts: [], vocabulary: Self.vocabulary, nowMicros: Self.now, patching: base) { "unused" }
        #expect(changed.throttlingSeconds == 0 && !changed.isActive && changed.id == base.id && changed.conditions == base.conditions)
        #expect(throws: NGSILDFailure.self) {
            try Subscription.parse(try JSON.parse(Array(#"{"id": "urn:x:y"}"#.utf8)), context: Self.vocabulary.context, contexts: [],
                                   vocabulary: Self.vocabulary, nowMicros: Self.now, patching: base) { "unused" }
        }
    }

    @Test func changesNotifyWhenTheyMatchTypeAttributesQAndTenant() throws {
        let stored = StoredSubscription(subscription: try Self.parse(Self.warmRooms), owner: "c", tenants: ["north"])
        let matcher = SubscriptionMatcher(vocabulary: Self.vocabulary)
        #expect(matcher.matches(stored, Self.change("a", temperature: 26)))
        #expect(!matcher.matches(stored, Self.change("a", temperature: 24)), "q")
        #expect(!matcher.matches(stored, Self.change("a", temperature: 26, changed: ["humidity"])), "not a watched attribute")
        #expect(!matcher.matches(stored, Self.change("a", temperature: 26, tenant: "south")), "another tenant")
        var device = Self.change("a", temperature: 26)
        device.entity.entityType = OpenEntity.deviceType
        #expect(!matcher.matches(stored, device), "another type")

        let body = try #require(matcher.notification(stored, [Self.change("a", temperature: 26), Self.change("b", temperature: 20)],
                                                     id: "urn:ngsi-ld:Notification:1", nowMicros: Self.now))
        #expect(body["type"] == "Notification" && body["subscriptionId"] == .string("urn:ngsi-ld:Subscription:new"))
        let data = try #require(body["data"]?.arrayValue)
        #expect(data.count == 1)
        #expect(data[0]["temperature"] == .number(26), "keyValues")
        #expect(data[0]["relativeHumidity"] == nil, "only the attributes asked for")
        #expect(data[0]["location"]?["type"] == "Point")
        #expect(body["@context"] == .string("http://gw/ctx.jsonld"))
    }

    @Test func throttlingExpiryAndPauseHoldNotificationsBack() throws {
        let matcher = SubscriptionMatcher(vocabulary: Self.vocabulary)
        var stored = StoredSubscription(subscription: try Self.parse(Self.warmRooms), owner: "c", tenants: nil)
        stored.status.lastNotificationMicros = Self.now - 30_000_000
        #expect(matcher.notification(stored, [Self.change("a", temperature: 30)], id: "n", nowMicros: Self.now) == nil, "within 60 s")
        stored.status.lastNotificationMicros = Self.now - 61_000_000
        #expect(matcher.notification(stored, [Self.change("a", temperature: 30)], id: "n", nowMicros: Self.now) != nil)
        stored.subscription.isActive = false
        #expect(matcher.notification(stored, [Self.change("a", temperature: 30)], id: "n", nowMicros: Self.now) == nil)
        #expect(matcher.status(stored, nowMicros: Self.now) == "paused")
        stored.subscription.isActive = true
        stored.subscription.expiresAtMicros = Self.now
        #expect(matcher.notification(stored, [Self.change("a", temperature: 30)], id: "n", nowMicros: Self.now) == nil)
        #expect(matcher.status(stored, nowMicros: Self.now) == "expired")
    }

    @Test func endpointsAreDeniedUnlessAllowed() throws {
        let http = try Self.parse(Self.warmRooms).endpoint
        #expect(NotificationEndpoints.none.refusal(http) != nil)
        #expect(NotificationEndpoints(allowedHosts: ["127.0.0.1"], broker: nil).refusal(http) == nil)
        #expect(NotificationEndpoints(allowedHosts: ["127.0.0.1:9999"], broker: nil).refusal(http) == nil)
        #expect(NotificationEndpoints(allowedHosts: ["127.0.0.1:80"], broker: nil).refusal(http) != nil)
        #expect(NotificationEndpoints(allowedHosts: ["*"], broker: nil).refusal(http) != nil, "* is any public host, not the loopback")
        let mqtt = try Self.parse(Self.warmRooms.replacingOccurrences(of: "http://127.0.0.1:9999/notify", with: "mqtt://127.0.0.1:18830/ngsi-ld/notifications/rooms")).endpoint
        #expect(mqtt.topic == "ngsi-ld/notifications/rooms")
        #expect(NotificationEndpoints(allowedHosts: ["*"], broker: nil).refusal(mqtt) != nil, "no broker: no MQTT")
        #expect(NotificationEndpoints(allowedHosts: [], broker: "127.0.0.1:18830").refusal(mqtt) == nil)
        #expect(NotificationEndpoints(allowedHosts: [], broker: "10.0.0.1:1883").refusal(mqtt) != nil, "another broker")
        #expect(NotificationTopics.refusal(mqtt, owner: "c") != nil, "another client's topic")
        let own = try Self.parse(Self.warmRooms.replacingOccurrences(of: "http://127.0.0.1:9999/notify", with: "mqtt://127.0.0.1:18830/ngsi-ld/notifications/c/rooms")).endpoint
        #expect(NotificationTopics.refusal(own, owner: "c") == nil)
        #expect(NotificationTopics.refusal(http, owner: "c") == nil)
    }

    @Test func anyHostIsAnyPublicHost() throws {
        for address in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                        "224.0.0.1", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"] {
            #expect(AddressRanges.isPublic(address) == false, "\(address)")
        }
        for address in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            #expect(AddressRanges.isPublic(address) == true, "\(address)")
        }
        #expect(AddressRanges.isPublic("example.org") == nil)
        let any = NotificationEndpoints(allowedHosts: ["*"], broker: nil)
        func endpoint(_ uri: String) throws -> Subscription.Endpoint {
            try Self.parse(Self.warmRooms.replacingOccurrences(of: "http://127.0.0.1:9999/notify", with: uri)).endpoint
        }
        #expect(any.refusal(try endpoint("http://169.254.169.254/latest")) != nil, "a cloud's metadata service")
        #expect(any.refusal(try endpoint("http://[::1]:8080/n")) != nil)
        #expect(any.refusal(try endpoint("http://8.8.8.8/n")) == nil)
        let city = try endpoint("http://city.example.org/n")
        #expect(any.refusal(city) == nil && any.needsPublicAddress(city), "a name is judged when it is resolved")
        let named = NotificationEndpoints(allowedHosts: ["*", "10.1.2.3"], broker: nil)
        let inside = try endpoint("http://10.1.2.3/n")
        #expect(named.refusal(inside) == nil && !named.needsPublicAddress(inside))
    }

    @Test func backoffDoublesToTenMinutes() {
        #expect(NotificationBackoff.delayMicros(afterAttempts: 0) == 1_000_000)
        #expect(NotificationBackoff.delayMicros(afterAttempts: 3) == 8_000_000)
        #expect(NotificationBackoff.delayMicros(afterAttempts: 50) == 600_000_000)
    }
}
