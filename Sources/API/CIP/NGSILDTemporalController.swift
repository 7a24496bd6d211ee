import Access
import Foundation
import HTTPTypes
import Hummingbird
import Models
import NGSILD
import Telemetry

/// CIP tier temporal reads (GS CIM 009 §5.7.3, §5.7.4): the evolution of open values over time, as instances,
/// simplified (`temporalValues`) or aggregated (`aggregatedValues` with `aggrMethods` and `aggrPeriodDuration`).
/// Bounded: at most `maxInstances` per attribute in one answer; more in the time range is answered 206 with a
/// `Content-Range` (GS CIM 009 §6.3.10) that says up to when the answer goes, and the next page asks from there.
struct NGSILDTemporalController<Context: ClientRequestContext> {
    let repository: any OpenDataRepository
    let vocabulary: OpenVocabulary
    let publicBaseURL: String?
    let clock: @Sendable () -> Int64

    static var maxInstances: Int { 1_000 }
    static var maxPeriods: Int { 1_000 }
    static var maxEntities: Int { 100 }

    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("temporal/entities", use: query)
        routes.get("temporal/entities/:entityId", use: evolution)
        return routes
    }

    /// The time bounds and the form of the answer, from the query.
    struct Window {
        var fromMicros: Int64?
        var toMicros: Int64?
        var lastN: Int?
        var simplified: Bool
        var aggregation: (methods: [AggregationMethod], periodMicros: Int64?)?

        init(_ parameters: QueryParameters) throws {
            if let property = parameters.get("timeproperty"), property != "observedAt" {
                throw NGSILDFailure(.operationNotSupported, "timeproperty: only observedAt is kept for these values")
            }
            if let timerel = parameters.get("timerel") {
                guard let timeAt = parameters.get("timeAt").flatMap({ RFC3339.micros(String($0)) }) else {
                    throw NGSILDFailure.badRequest("timerel needs timeAt (RFC 3339)")
                }
                switch timerel {
                case "before": toMicros = timeAt
                case "after": fromMicros = timeAt + 1
                case "between":
                    guard let end = parameters.get("endTimeAt").flatMap({ RFC3339.micros(String($0)) }), end > timeAt else {
                        throw NGSILDFailure.badRequest("timerel=between needs endTimeAt (RFC 3339) after timeAt")
                    }
                    fromMicros = timeAt
                    toMicros = end
                default: throw NGSILDFailure.badRequest("timerel must be before, after or between")
                }
            } else if parameters.get("timeAt") != nil || parameters.get("endTimeAt") != nil {
                throw NGSILDFailure.badRequest("timeAt and endTimeAt need timerel")
            }
            lastN = try parameters.get("lastN").map { text in
                try NGSILDController<Context>.number(text, name: "lastN", default: 1, range: 1...NGSILDTemporalController.maxInstances)
            }
            let options = NGSILDController<Context>.options(parameters)
            simplified = options.contains("temporalValues")
            if options.contains("aggregatedValues") {
                guard let methods = parameters.get("aggrMethods") else { throw NGSILDFailure.badRequest("aggregatedValues needs aggrMethods") }
                let period = try parameters.get("aggrPeriodDuration").flatMap { text in text == "P0D" ? nil : try ISODuration.micros(text) }
                aggregation = (try AggregationMethod.parse(methods), period)
            } else if parameters.get("aggrMethods") != nil {
                throw NGSILDFailure.badRequest("aggrMethods needs options=aggregatedValues")
            }
        }
    }

    /// `GET /ngsi-ld/v1/temporal/entities/{entityId}?attrs=&timerel=&timeAt=&endTimeAt=&lastN=&options=&aggrMethods=&aggrPeriodDuration=`
    @Sendable func evolution(_ request: Request, context: Context) async throws -> Response {
        let ld = try LDRequest(request, vocabulary: vocabulary, publicBaseURL: publicBaseURL)
        let id = try NGSILDController<Context>.entityID(context)
        let parameters = request.uri.queryParameters
        let attributes = try EntitySelection.attributes(parameters.get("attrs"), ld: ld, vocabulary: vocabulary)
        let window = try Window(parameters)
        guard let entity = try await repository.entity(id: id, tenants: try LDTenant.read(request, context.client)) else {
            throw NGSILDFailure.notFound("no entity \(id)")
        }
        let (body, range) = try await evolution(of: entity, attributes.quantities, window, ld)
        var headers = HTTPFields()
        if let range { headers[.contentRange] = range }
        return ld.respond(body, status: range == nil ? .ok : .partialContent, headers: headers)
    }

    /// `GET /ngsi-ld/v1/temporal/entities?type=&id=&q=&attrs=&...&limit=&offset=&count=`: the evolution of several
    /// entities (each at most `lastN`, default 100, instances per attribute).
    @Sendable func query(_ request: Request, context: Context) async throws -> Response {
        let ld = try LDRequest(request, vocabulary: vocabulary, publicBaseURL: publicBaseURL)
        let parameters = request.uri.queryParameters
        let selection = try EntitySelection(parameters, ld: ld, vocabulary: vocabulary, tenants: try LDTenant.read(request, context.client))
        var window = try Window(parameters)
        if window.aggregation == nil && window.lastN == nil { window.lastN = 100 }
        let limit = try NGSILDController<Context>.number(parameters.get("limit"), name: "limit", default: 20, range: 0...Self.maxEntities)
        let offset = try NGSILDController<Context>.number(parameters.get("offset"), name: "offset", default: 0,
                                                          range: 0...NGSILDController<Context>.maxOffset)
        var headers = HTTPFields()
        var bodies: [JSONValue] = []
        if let query = selection.query {
            let options = NGSILDController<Context>.options(parameters)
            if parameters.get("count") == "true" || options.contains("count") {
                headers[NGSILDHeaders.resultsCount] = String(try await repository.count(query))
            }
            for entity in try await repository.entities(query, offset: offset, limit: limit) {
                bodies.append(try await evolution(of: entity, selection.attributes, window, ld).body)
            }
        }
        return ld.respond(.array(bodies), headers: headers)
    }

    /// One entity's evolution, and the Content-Range when the answer stops short of the time range.
    func evolution(of entity: OpenEntity, _ quantities: [String]?, _ window: Window, _ ld: LDRequest) async throws -> (body: JSONValue, range: String?) {
        let representation = Representation(vocabulary: vocabulary, context: ld.context)
        if let aggregation = window.aggregation {
            let to = window.toMicros ?? clock() + 1
            // Without a start, from the entity's first value (not from as far back as anything is kept).
            let first = window.fromMicros == nil
                ? try await repository.history(deviceID: entity.deviceID, quantities: quantities, fromMicros: nil, toMicros: to, lastN: 1,
                                               newestFirst: false).map(\.observedAtMicros).min()
                : nil
            let from = window.fromMicros ?? first ?? to - 1
            guard from < to else { return (representation.aggregated(entity, [], methods: aggregation.methods), nil) }
            let period = max(1, aggregation.periodMicros ?? (to - from))
            guard (to - from) / period < Int64(Self.maxPeriods) else {
                throw NGSILDFailure(.tooManyResults, "at most \(Self.maxPeriods) periods of aggrPeriodDuration in one answer; narrow timerel or lengthen the period")
            }
            let aggregates = try await repository.aggregate(deviceID: entity.deviceID, quantities: quantities, fromMicros: from,
                                                            toMicros: to, periodMicros: period)
            return (representation.aggregated(entity, aggregates, methods: aggregation.methods), nil)
        }
        if let lastN = window.lastN {
            let values = try await repository.history(deviceID: entity.deviceID, quantities: quantities, fromMicros: window.fromMicros,
                                                      toMicros: window.toMicros, lastN: lastN, newestFirst: true)
            return (representation.temporal(entity, values, simplified: window.simplified), nil)
        }
        // Forward in time from the start of the range: one more than fits tells whether the answer is cut short.
        var values = try await repository.history(deviceID: entity.deviceID, quantities: quantities, fromMicros: window.fromMicros,
                                                  toMicros: window.toMicros, lastN: Self.maxInstances + 1, newestFirst: false)
        var range: String?
        let counts = Dictionary(grouping: values, by: \.quantity).mapValues(\.count)
        if counts.values.contains(where: { $0 > Self.maxInstances }) {
            // Up to the earliest instant by which every attribute is complete; later values are for the next page.
            var end = Int64.max
            for (quantity, count) in counts where count > Self.maxInstances {
                let times = values.filter { $0.quantity == quantity }.map(\.observedAtMicros)
                end = min(end, times[Self.maxInstances - 1])
            }
            values.removeAll { $0.observedAtMicros > end }
            let start = values.map(\.observedAtMicros).min() ?? end
            range = "date-time \(RFC3339.format(micros: start))-\(RFC3339.format(micros: end))/*"
        }
        return (representation.temporal(entity, values, simplified: window.simplified), range)
    }
}
