import Models
import Telemetry

/// An entity whose open values changed since the matcher last looked: the entity, its newest open values and
/// which quantities changed.
public struct ChangedEntity: Sendable, Equatable {
    public var entity: OpenEntity
    public var latest: [OpenValue]
    public var changed: Set<String>

    public init(entity: OpenEntity, latest: [OpenValue], changed: Set<String>) {
        self.entity = entity
        self.latest = latest
        self.changed = changed
    }
}

/// Which subscriptions a set of changes notifies, and the notification each sends (GS CIM 009 §5.3.1): pure, so that
/// the matcher's transaction only stores what this decides.
public struct SubscriptionMatcher: Sendable {
    public let vocabulary: OpenVocabulary

    public init(vocabulary: OpenVocabulary) { self.vocabulary = vocabulary }

    /// Whether the subscription takes notice of this change (activity, expiry and throttling aside).
    public func matches(_ stored: StoredSubscription, _ change: ChangedEntity) -> Bool {
        let subscription = stored.subscription
        guard stored.tenants.map({ $0.contains(change.entity.tenant) }) ?? true else { return false }
        if !subscription.entities.isEmpty {
            guard subscription.entities.contains(where: { selector in
                selector.type == change.entity.entityType && (selector.id.map { $0 == change.entity.entityID } ?? true)
            }) else { return false }
        }
        let watched = subscription.watchedAttributes.map(Set.init) ?? Set(vocabulary.openQuantities.map(\.quantity.id))
        guard !watched.isDisjoint(with: change.changed) else { return false }
        return subscription.conditions.allSatisfy { condition in change.latest.contains { condition.matches($0) } }
    }

    /// Whether the subscription may send now: active, not expired, and past its throttling period.
    public func maySend(_ stored: StoredSubscription, nowMicros: Int64) -> Bool {
        let subscription = stored.subscription
        guard subscription.isActive, subscription.expiresAtMicros.map({ $0 > nowMicros }) ?? true else { return false }
        guard let last = stored.status.lastNotificationMicros, subscription.throttlingSeconds > 0 else { return true }
        return nowMicros - last >= Int64(subscription.throttlingSeconds) * 1_000_000
    }

    /// The notification for the changes this subscription takes notice of; nil when none (or it may not send now).
    public func notification(_ stored: StoredSubscription, _ changes: [ChangedEntity], id: String, nowMicros: Int64) -> JSON? {
        guard maySend(stored, nowMicros: nowMicros) else { return nil }
        let matching = changes.filter { matches(stored, $0) }
        guard !matching.isEmpty else { return nil }
        let subscription = stored.subscription
        // Named with the city's terms: the contexts the notification names (the subscription's own) carry them.
        let representation = Representation(vocabulary: vocabulary, context: vocabulary.context)
        let data: [JSON] = matching.map { change in
            let values = change.latest.filter { value in subscription.notifiedAttributes.map { $0.contains(value.quantity) } ?? true }
            return representation.entity(change.entity, values, format: subscription.format, includeLocation: subscription.notifiesLocation)
        }
        var body: [String: JSON] = [
            "id": .string(id), "type": "Notification", "subscriptionId": .string(subscription.id),
            "notifiedAt": .string(RFC3339.format(micros: nowMicros, fractionDigits: 3)), "data": .array(data),
        ]
        if subscription.endpoint.wantsLD {
            body["@context"] = subscription.contexts.count == 1 ? .string(subscription.contexts[0]) : .array(subscription.contexts.map(JSON.string))
        }
        return .object(body)
    }

    /// A subscription as GET answers it: names compacted with the reader's context, and how it fares.
    public func render(_ stored: StoredSubscription, context: LDContext, nowMicros: Int64) -> JSON {
        let subscription = stored.subscription
        func name(_ quantity: String) -> JSON { .string(vocabulary.iri(quantityID: quantity).map(context.compact) ?? quantity) }
        var notification: [String: JSON] = [
            "format": .string(subscription.format.rawValue),
            "endpoint": ["uri": .string(subscription.endpoint.uri), "accept": .string(subscription.endpoint.accept)],
            "timesSent": .number(Double(stored.status.timesSent)), "timesFailed": .number(Double(stored.status.timesFailed)),
            "status": .string(stored.status.lastFailureMicros.map { failure in (stored.status.lastSuccessMicros ?? 0) >= failure ? "ok" : "failed" } ?? "ok"),
        ]
        if let attributes = subscription.notifiedAttributes {
            notification["attributes"] = .array(attributes.map(name) + (subscription.notifiesLocation ? [.string(context.compact(OpenVocabulary.location))] : []))
        }
        if let last = stored.status.lastNotificationMicros { notification["lastNotification"] = .string(RFC3339.format(micros: last)) }
        if let last = stored.status.lastSuccessMicros { notification["lastSuccess"] = .string(RFC3339.format(micros: last)) }
        if let last = stored.status.lastFailureMicros { notification["lastFailure"] = .string(RFC3339.format(micros: last)) }
        if let error = stored.status.lastError { notification["lastFailureReason"] = .string(error) }
        notification["pending"] = .number(Double(stored.status.pending))
        notification["dropped"] = .number(Double(stored.status.dropped))
        var body: [String: JSON] = [
            "id": .string(subscription.id), "type": "Subscription", "isActive": .bool(subscription.isActive),
            "status": .string(status(stored, nowMicros: nowMicros)), "notification": .object(notification),
            "throttling": .number(Double(subscription.throttlingSeconds)),
        ]
        if !subscription.entities.isEmpty {
            body["entities"] = .array(subscription.entities.map { selector in
                var item: [String: JSON] = ["type": .string(context.compact(selector.type))]
                if let id = selector.id { item["id"] = .string(id) }
                return .object(item)
            })
        }
        if let watched = subscription.watchedAttributes { body["watchedAttributes"] = .array(watched.map(name)) }
        if let q = subscription.q { body["q"] = .string(q) }
        if let name = subscription.name { body["subscriptionName"] = .string(name) }
        if let description = subscription.description { body["description"] = .string(description) }
        if let expires = subscription.expiresAtMicros { body["expiresAt"] = .string(RFC3339.format(micros: expires)) }
        return .object(body)
    }

    /// `active`, `paused` (isActive false) or `expired`.
    public func status(_ stored: StoredSubscription, nowMicros: Int64) -> String {
        if let expires = stored.subscription.expiresAtMicros, expires <= nowMicros { return "expired" }
        return stored.subscription.isActive ? "active" : "paused"
    }
}
