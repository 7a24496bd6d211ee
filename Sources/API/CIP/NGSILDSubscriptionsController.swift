import Access
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NGSILD
import NIOCore

/// NGSI-LD subscriptions (GS CIM 009 §5.8): an open-data client (or a writer) asks to be told when open values
/// change, by HTTP POST to an endpoint the operator allows or by MQTT on the city broker. Each client sees and
/// changes its own subscriptions only; a subscription sees what its client saw when it was made (its tenants).
struct NGSILDSubscriptionsController<Context: ClientRequestContext> {
    let repository: any SubscriptionRepository
    let vocabulary: OpenVocabulary
    let endpoints: NotificationEndpoints
    let publicBaseURL: String?
    let clock: @Sendable () -> Int64

    static var maxBody: Int { 64 << 10 }
    /// With at most 500 notifications of at most 100 entities waiting each, this bounds what one client can make
    /// the outbox hold.
    static var maxPerClient: Int { 20 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.post("subscriptions", use: create)
        routes.get("subscriptions", use: list)
        routes.get("subscriptions/:subscriptionId", use: get)
        routes.patch("subscriptions/:subscriptionId", use: update)
        routes.delete("subscriptions/:subscriptionId", use: delete)
        return routes
    }

    private func owner(_ context: Context) -> String { context.client?.name ?? "anonymous" }

    private func read(_ request: Request) async throws -> (JSON, LDRequest) {
        let body = try await LDBody.read(request, maxBytes: Self.maxBody)
        try body.checkContext()
        return (body.json, try LDRequest(request, vocabulary: vocabulary, body: body.isLD ? body.json : nil, publicBaseURL: publicBaseURL))
    }

    private func check(_ subscription: Subscription, owner: String) throws {
        if let refusal = endpoints.refusal(subscription.endpoint) ?? NotificationTopics.refusal(subscription.endpoint, owner: owner) {
            throw NGSILDFailure.badRequest("notification.endpoint.uri: \(refusal)")
        }
    }

    /// `POST /ngsi-ld/v1/subscriptions`: 201 with the subscription's Location.
    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let (body, ld) = try await read(request)
        let subscription = try Subscription.parse(body, context: ld.context, contexts: ld.responseContexts, vocabulary: vocabulary,
                                                  nowMicros: clock()) { "urn:ngsi-ld:Subscription:\(UUID().uuidString.lowercased())" }
        let owner = owner(context)
        try check(subscription, owner: owner)
        guard try await repository.list(owner: owner, offset: Self.maxPerClient - 1, limit: 1).isEmpty else {
            throw NGSILDFailure(.operationNotSupported, "a client may hold at most \(Self.maxPerClient) subscriptions")
        }
        let tenants = try LDTenant.read(request, context.client)
        guard try await repository.create(subscription, owner: owner, tenants: tenants) else {
            throw NGSILDFailure(.alreadyExists, "a subscription \(subscription.id) exists")
        }
        context.audit?.wrote(records: 1, subjects: [subscription.id])
        var headers = HTTPFields()
        headers[.location] = "/ngsi-ld/v1/subscriptions/\(subscription.id)"
        return Response(status: .created, headers: headers)
    }

    /// `GET /ngsi-ld/v1/subscriptions?limit=&offset=`: the client's own.
    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let ld = try LDRequest(request, vocabulary: vocabulary, publicBaseURL: publicBaseURL)
        let parameters = request.uri.queryParameters
        let limit = try NGSILDController<Context>.number(parameters.get("limit"), name: "limit", default: Self.maxPerClient, range: 0...Self.maxPerClient)
        let offset = try NGSILDController<Context>.number(parameters.get("offset"), name: "offset", default: 0, range: 0...Self.maxPerClient)
        let found = try await repository.list(owner: owner(context), offset: offset, limit: limit)
        let matcher = SubscriptionMatcher(vocabulary: vocabulary)
        return ld.respond(.array(found.map { matcher.render($0, context: ld.context, nowMicros: clock()) }))
    }

    /// `GET /ngsi-ld/v1/subscriptions/{id}`
    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        let ld = try LDRequest(request, vocabulary: vocabulary, publicBaseURL: publicBaseURL)
        let id = try subscriptionID(context)
        guard let found = try await repository.subscription(id: id, owner: owner(context)) else {
            throw NGSILDFailure.notFound("no subscription \(id)")
        }
        return ld.respond(SubscriptionMatcher(vocabulary: vocabulary).render(found, context: ld.context, nowMicros: clock()))
    }

    /// `PATCH /ngsi-ld/v1/subscriptions/{id}`: the members given replace the subscription's; 204.
    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let id = try subscriptionID(context)
        let (body, ld) = try await read(request)
        let owner = owner(context)
        guard let found = try await repository.subscription(id: id, owner: owner) else { throw NGSILDFailure.notFound("no subscription \(id)") }
        if let bodyID = body["id"]?.stringValue, bodyID != id { throw NGSILDFailure.badRequest("the body's id \(bodyID) is not the subscription \(id) of the path") }
        if let type = body["type"], type != "Subscription" { throw NGSILDFailure.badRequest("type is Subscription and cannot be changed") }
        var fragment = body.objectValue ?? [:]
        fragment["id"] = nil
        fragment["type"] = nil
        let changed = try Subscription.parse(.object(fragment), context: ld.context, contexts: ld.named.isEmpty ? [] : ld.responseContexts,
                                             vocabulary: vocabulary, nowMicros: clock(), patching: found.subscription) { id }
        try check(changed, owner: owner)
        guard try await repository.replace(changed, owner: owner) else { throw NGSILDFailure.notFound("no subscription \(id)") }
        context.audit?.wrote(records: 1, subjects: [id])
        return Response(status: .noContent)
    }

    /// `DELETE /ngsi-ld/v1/subscriptions/{id}`: 204; its waiting notifications go with it.
    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let id = try subscriptionID(context)
        guard try await repository.delete(id: id, owner: owner(context)) else { throw NGSILDFailure.notFound("no subscription \(id)") }
        context.audit?.wrote(records: 1, subjects: [id])
        return Response(status: .noContent)
    }

    private func subscriptionID(_ context: Context) throws -> String {
        try NGSILDController<Context>.uriParameter("subscriptionId", context, what: "a subscription id (a URI)")
    }
}
