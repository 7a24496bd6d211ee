import Foundation
import Models
import Telemetry

/// An NGSI-LD subscription (GS CIM 009 §5.2.12) as this tier keeps it: names already expanded and resolved to
/// catalogue quantities, so that matching needs no context. Stored as this type's JSON.
public struct Subscription: Sendable, Equatable, Codable {
    public struct Selector: Sendable, Equatable, Codable {
        public var id: String?
        /// The expanded type IRI.
        public var type: String

        public init(id: String?, type: String) {
            self.id = id
            self.type = type
        }
    }

    public enum Scheme: String, Sendable, Codable { case http, https, mqtt }

    public struct Endpoint: Sendable, Equatable, Codable {
        public var uri: String
        public var accept: String
        public var scheme: Scheme
        /// `host` or `host:port` as written in the URI.
        public var authority: String

        public var wantsLD: Bool { accept == "application/ld+json" }
        /// The MQTT topic of an `mqtt://` endpoint (its path without the leading slash).
        public var topic: String? {
            guard scheme == .mqtt, let url = URL(string: uri) else { return nil }
            return String(url.path.dropFirst())
        }
    }

    public var id: String
    public var name: String?
    public var description: String?
    /// Which entities: any selector (empty: any entity, then watchedAttributes say which changes count).
    public var entities: [Selector]
    /// Catalogue quantities whose changes notify; nil: any open quantity.
    public var watchedAttributes: [String]?
    /// The `q` as given, and its conditions on catalogue quantities (all must hold).
    public var q: String?
    public var conditions: [OpenValueCondition]
    /// Catalogue quantities a notification carries; nil: all open ones.
    public var notifiedAttributes: [String]?
    public var notifiesLocation: Bool
    public var format: EntityFormat
    public var endpoint: Endpoint
    public var throttlingSeconds: Int
    public var expiresAtMicros: Int64?
    public var isActive: Bool
    /// The context the subscription's names were given in (URLs), which its notifications name.
    public var contexts: [String]

    public static let maxEntities = 20
    public static let maxAttributes = 20
    public static let maxThrottlingSeconds = 86_400
}

/// What became of a subscription's notifications (the `notification` members of GS CIM 009 §5.2.14).
public struct SubscriptionStatus: Sendable, Equatable {
    public var lastNotificationMicros: Int64?
    public var lastSuccessMicros: Int64?
    public var lastFailureMicros: Int64?
    public var lastError: String?
    public var timesSent: Int
    public var timesFailed: Int
    /// Notifications dropped because the subscription's outbox was full.
    public var dropped: Int
    /// How many wait in the outbox.
    public var pending: Int

    public init(lastNotificationMicros: Int64? = nil, lastSuccessMicros: Int64? = nil, lastFailureMicros: Int64? = nil,
                lastError: String? = nil, timesSent: Int = 0, timesFailed: Int = 0, dropped: Int = 0, pending: Int = 0) {
        self.lastNotificationMicros = lastNotificationMicros
        self.lastSuccessMicros = lastSuccessMicros
        self.lastFailureMicros = lastFailureMicros
        self.lastError = lastError
        self.timesSent = timesSent
        self.timesFailed = timesFailed
        self.dropped = dropped
        self.pending = pending
    }
}

/// A subscription with who made it, what it may see, and how it fares.
public struct StoredSubscription: Sendable, Equatable {
    public var subscription: Subscription
    public var owner: String
    /// nil: every tenant.
    public var tenants: [String]?
    public var status: SubscriptionStatus

    public init(subscription: Subscription, owner: String, tenants: [String]?, status: SubscriptionStatus = SubscriptionStatus()) {
        self.subscription = subscription
        self.owner = owner
        self.tenants = tenants
        self.status = status
    }
}

/// Subscriptions as the API keeps them: each client sees and changes its own only.
public protocol SubscriptionRepository: Sendable {
    /// false: the id is taken.
    func create(_ subscription: Subscription, owner: String, tenants: [String]?) async throws -> Bool
    func list(owner: String, offset: Int, limit: Int) async throws -> [StoredSubscription]
    func subscription(id: String, owner: String) async throws -> StoredSubscription?
    /// false: no such subscription of this owner.
    func replace(_ subscription: Subscription, owner: String) async throws -> Bool
    func delete(id: String, owner: String) async throws -> Bool
}

// MARK: - Reading a subscription from a request

extension Subscription {
    /// Members a PATCH may change (GS CIM 009 §5.8.2); `id` and `type` never.
    static let changeable: Set<String> = ["subscriptionName", "description", "entities", "watchedAttributes", "q", "notification",
                                          "throttling", "expiresAt", "isActive", "@context"]

    /// A subscription from its JSON (POST), or `base` changed by a fragment (PATCH). `contexts`: the context URLs
    /// the request named, echoed in notifications.
    public static func parse(_ body: JSON, context: LDContext, contexts: [String], vocabulary: OpenVocabulary, nowMicros: Int64,
                             patching base: Subscription? = nil, newID: () -> String) throws(NGSILDFailure) -> Subscription {
        guard let members = body.objectValue else { throw .badRequest("a subscription is a JSON object, not \(body.kindName)") }
        if let base {
            if let unknown = members.keys.first(where: { !changeable.contains($0) }) {
                throw .badRequest("\(unknown) cannot be changed; a PATCH changes \(changeable.subtracting(["@context"]).sorted().joined(separator: ", "))")
            }
            _ = base
        } else {
            guard members["type"]?.stringValue == "Subscription" else { throw .badRequest("type must be Subscription") }
        }
        if members["timeInterval"] != nil && members["throttling"] != nil {
            throw .badRequest("timeInterval and throttling exclude each other")
        }
        for unsupported in ["timeInterval", "geoQ", "csf", "scopeQ", "temporalQ", "lang", "jsonldContext"] where members[unsupported] != nil {
            throw NGSILDFailure(.operationNotSupported, "\(unsupported) is not supported in subscriptions here")
        }
        var subscription = base ?? Subscription(
            id: "", name: nil, description: nil, entities: [], watchedAttributes: nil, q: nil, conditions: [], notifiedAttributes: nil,
            notifiesLocation: true, format: .normalized,
            endpoint: Endpoint(uri: "", accept: "application/json", scheme: .http, authority: ""), throttlingSeconds: 0,
            expiresAtMicros: nil, isActive: true, contexts: contexts)
        if base == nil {
            if let id = members["id"] {
                guard let text = id.stringValue, text.count <= 256, LDContext.isAbsoluteIRI(text) else {
                    throw .badRequest("id must be a URI of at most 256 characters")
                }
                subscription.id = text
            } else {
                subscription.id = newID()
            }
        } else if members["@context"] != nil || !contexts.isEmpty {
            subscription.contexts = contexts
        }
        if let name = members["subscriptionName"] { subscription.name = try text(name, "subscriptionName", max: 256) }
        if let description = members["description"] { subscription.description = try text(description, "description", max: 1024) }
        if let entities = members["entities"] {
            guard let items = entities.arrayValue, items.count <= maxEntities else {
                throw .badRequest("entities is a list of at most \(maxEntities) entity selectors")
            }
            subscription.entities = try items.map { item throws(NGSILDFailure) in
                guard let selector = item.objectValue else { throw .badRequest("entities: each is an object with a type") }
                // ".*" (any id, as some clients always send) is no pattern at all; any other is not evaluated here.
                if let pattern = selector["idPattern"], pattern.stringValue != ".*" {
                    throw NGSILDFailure(.operationNotSupported, "entities: idPattern is not supported (but .*); give id or type")
                }
                guard let type = selector["type"]?.stringValue, !type.isEmpty, type.count <= 256 else {
                    throw .badRequest("entities: each selector needs a type")
                }
                var id: String?
                if let given = selector["id"] {
                    guard let text = given.stringValue, text.count <= 256, LDContext.isAbsoluteIRI(text) else { throw .badRequest("entities: id must be a URI") }
                    id = text
                }
                return Selector(id: id, type: context.expand(type))
            }
        }
        if let watched = members["watchedAttributes"] {
            let names = try list(watched, "watchedAttributes")
            guard !names.isEmpty else { throw .badRequest("watchedAttributes must not be empty (leave it out to watch every attribute)") }
            subscription.watchedAttributes = try names.map { name throws(NGSILDFailure) in try openQuantity(name, context, vocabulary, "watchedAttributes").id }
        }
        if let q = members["q"] {
            guard let raw = q.stringValue else { throw .badRequest("q must be a text") }
            var conditions: [OpenValueCondition] = []
            for term in try QueryTerm.parse(raw) {
                let quantity = try openQuantity(term.attribute, context, vocabulary, "q")
                guard let parts = term.conditions(quantity: quantity.id) else {
                    throw NGSILDFailure(.operationNotSupported, "q: \(term.attribute): a list of values after == and a range after != are not supported")
                }
                conditions += parts
            }
            subscription.q = raw.contains("%") ? (raw.removingPercentEncoding ?? raw) : raw
            subscription.conditions = conditions
        }
        if let notification = members["notification"] {
            guard let fields = notification.objectValue else { throw .badRequest("notification must be an object") }
            if let attributes = fields["attributes"] {
                var quantities: [String] = []
                var location = false
                for name in try list(attributes, "notification.attributes") {
                    if context.expand(name) == OpenVocabulary.location { location = true; continue }
                    quantities.append(try openQuantity(name, context, vocabulary, "notification.attributes").id)
                }
                subscription.notifiedAttributes = quantities
                subscription.notifiesLocation = location
            }
            if let format = fields["format"] {
                guard let text = format.stringValue, let parsed = EntityFormat(rawValue: text) else {
                    throw .badRequest("notification.format must be normalized, concise or keyValues")
                }
                subscription.format = parsed
            }
            if let endpoint = fields["endpoint"] {
                if endpoint["receiverInfo"] != nil || endpoint["notifierInfo"] != nil {
                    throw NGSILDFailure(.operationNotSupported, "notification.endpoint.receiverInfo and notifierInfo are not supported: an endpoint that needs headers of its own gets no notification it could take")
                }
                subscription.endpoint = try parseEndpoint(endpoint)
            } else if base == nil {
                throw .badRequest("notification.endpoint is required")
            }
        } else if base == nil {
            throw .badRequest("notification is required")
        }
        if let throttling = members["throttling"] {
            guard let seconds = throttling.numberValue, seconds >= 0, seconds <= Double(maxThrottlingSeconds), seconds == seconds.rounded() else {
                throw .badRequest("throttling is whole seconds from 0 to \(maxThrottlingSeconds)")
            }
            subscription.throttlingSeconds = Int(seconds)
        }
        if let expires = members["expiresAt"] {
            guard let text = expires.stringValue, let micros = RFC3339.micros(text) else { throw .badRequest("expiresAt must be an RFC 3339 date-time") }
            guard micros > nowMicros else { throw .badRequest("expiresAt must be in the future") }
            subscription.expiresAtMicros = micros
        }
        if let active = members["isActive"] {
            guard let flag = active.boolValue else { throw .badRequest("isActive must be true or false") }
            subscription.isActive = flag
        }
        guard !subscription.entities.isEmpty || subscription.watchedAttributes != nil else {
            throw .badRequest("a subscription needs entities or watchedAttributes")
        }
        return subscription
    }

    static func parseEndpoint(_ value: JSON) throws(NGSILDFailure) -> Endpoint {
        guard let fields = value.objectValue, let uri = fields["uri"]?.stringValue else {
            throw .badRequest("notification.endpoint needs a uri")
        }
        guard uri.count <= 1024, let url = URL(string: uri), let rawScheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw .badRequest("notification.endpoint.uri \(uri.prefix(64)) is not an absolute URL")
        }
        guard let scheme = Scheme(rawValue: rawScheme) else {
            throw NGSILDFailure(.operationNotSupported, "notification.endpoint.uri: \(rawScheme) endpoints are not supported; use http, https or mqtt")
        }
        guard url.user == nil, url.password == nil else {
            throw .badRequest("notification.endpoint.uri must not carry credentials")
        }
        // Nothing that could end a request line or a header once decoded.
        guard uri.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
              !(url.path.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7F }),
              !((url.query?.removingPercentEncoding ?? "").unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .badRequest("notification.endpoint.uri has spaces or control characters, escaped or not")
        }
        let accept = fields["accept"]?.stringValue ?? "application/json"
        guard accept == "application/json" || accept == "application/ld+json" else {
            throw NGSILDFailure(.operationNotSupported, "notification.endpoint.accept must be application/json or application/ld+json")
        }
        if scheme == .mqtt {
            let topic = String(url.path.dropFirst())
            guard topic.hasPrefix(NotificationTopics.prefix), topic.count > NotificationTopics.prefix.count, topic.count <= 256,
                  !topic.contains("+"), !topic.contains("#"), !topic.contains("//"), !topic.hasSuffix("/") else {
                throw .badRequest("notification.endpoint.uri: an MQTT topic must be \(NotificationTopics.prefix)<name>, without wildcards")
            }
        }
        // An IPv6 address in brackets, so that the port stays apart from it.
        let bare = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let name = bare.contains(":") ? "[\(bare)]" : bare
        let authority = url.port.map { "\(name):\($0)" } ?? name
        return Endpoint(uri: uri, accept: accept, scheme: scheme, authority: authority)
    }

    private static func text(_ value: JSON, _ name: String, max: Int) throws(NGSILDFailure) -> String {
        guard let text = value.stringValue, text.count <= max else { throw .badRequest("\(name) must be a text of at most \(max) characters") }
        return text
    }

    private static func list(_ value: JSON, _ name: String) throws(NGSILDFailure) -> [String] {
        guard let items = value.arrayValue, items.count <= maxAttributes else { throw .badRequest("\(name) is a list of at most \(maxAttributes) names") }
        return try items.map { item throws(NGSILDFailure) in
            guard let text = item.stringValue, !text.isEmpty, text.count <= 256 else { throw .badRequest("\(name): each is an attribute name") }
            return text
        }
    }

    private static func openQuantity(_ name: String, _ context: LDContext, _ vocabulary: OpenVocabulary, _ member: String) throws(NGSILDFailure) -> Quantity {
        guard let quantity = vocabulary.openQuantity(iri: context.expand(name)) else {
            throw .badRequest("\(member): \(name) is not an attribute of this tier; open attributes: \(EntityInput.writable(vocabulary))")
        }
        return quantity
    }
}

/// Where MQTT notifications go on the city broker: under the subscribing client's own name, so that no client
/// publishes on another's topics (the broker's accounts then decide who reads which).
public enum NotificationTopics {
    public static let prefix = "ngsi-ld/notifications/"

    public static func prefix(for owner: String) -> String { prefix + owner + "/" }

    /// nil when the subscription's MQTT topic (if any) is its owner's, else why not.
    public static func refusal(_ endpoint: Subscription.Endpoint, owner: String) -> String? {
        guard let topic = endpoint.topic, !topic.hasPrefix(prefix(for: owner)) else { return nil }
        return "an MQTT topic of client \(owner) is \(prefix(for: owner))<name>"
    }
}

extension QueryTerm {
    /// This term as conditions the repositories evaluate (all must hold); nil when it cannot be spelt so (a list
    /// after `==`, a range after `!=`).
    public func conditions(quantity: String) -> [OpenValueCondition]? {
        func literal(_ op: OpenValueCondition.Operator, _ value: Literal) -> OpenValueCondition {
            switch value {
            case .number(let number): OpenValueCondition(quantity: quantity, op: op, number: number)
            case .text(let text): OpenValueCondition(quantity: quantity, op: op, text: text)
            case .boolean(let flag): OpenValueCondition(quantity: quantity, op: op, boolean: flag)
            }
        }
        switch test {
        case .exists: return [OpenValueCondition(quantity: quantity, op: nil)]
        case .compare(let op, let value): return [literal(OpenValueCondition.Operator(rawValue: op.rawValue)!, value)]
        case .range(let low, let high, negated: false): return [literal(.greaterOrEqual, .number(low)), literal(.lessOrEqual, .number(high))]
        case .oneOf(let values, negated: true): return values.map { literal(.notEqual, $0) }
        case .oneOf(let values, negated: false) where values.count == 1: return [literal(.equal, values[0])]
        case .oneOf, .range: return nil
        }
    }
}
