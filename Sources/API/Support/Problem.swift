import Foundation
import Hummingbird
import Models
import NGSILD

/// An RFC 9457 problem: every error the API returns has this shape, as `application/problem+json`.
public struct Problem: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// A URI naming the kind of problem; documented in the README.
    public var type: String
    public var title: String
    public var detail: String
    /// For bad parameters: which one.
    public var parameter: String?
    /// Further members of the problem object (RFC 9457 §3.2), e.g. a refused command's `refusal` and `commandId`.
    public var extensions: [String: String] = [:]

    public init(status: HTTPResponse.Status, type: String, title: String, detail: String, parameter: String? = nil) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.parameter = parameter
    }

    /// An NGSI-LD error, with its type from the ETSI error catalogue.
    public init(_ failure: NGSILDFailure) {
        self.init(status: HTTPResponse.Status(code: failure.kind.status), type: failure.kind.typeURI, title: failure.kind.rawValue,
                  detail: failure.detail)
    }

    public static func badParameter(_ name: String, _ detail: String) -> Problem {
        Problem(status: .badRequest, type: "urn:cip:problem:invalid-parameter", title: "Invalid parameter",
                detail: detail, parameter: name)
    }

    public static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, type: "urn:cip:problem:invalid-request", title: "Invalid request", detail: detail)
    }

    public static func conflict(_ detail: String) -> Problem {
        Problem(status: .conflict, type: "urn:cip:problem:conflict", title: "Conflict", detail: detail)
    }

    public static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, type: "urn:cip:problem:not-found", title: "Not found", detail: detail)
    }

    /// 401: no token, or one that is unknown, rotated or revoked (answered with `WWW-Authenticate: Bearer`).
    public static func unauthorized(_ detail: String) -> Problem {
        Problem(status: .unauthorized, type: "urn:cip:problem:unauthorized", title: "Unauthorized", detail: detail)
    }

    /// 403: a valid client without the role the route needs.
    public static func forbidden(_ detail: String) -> Problem {
        Problem(status: .forbidden, type: "urn:cip:problem:forbidden", title: "Forbidden", detail: detail)
    }

    public static func unavailable(_ detail: String) -> Problem {
        Problem(status: .serviceUnavailable, type: "urn:cip:problem:unavailable", title: "Service unavailable",
                detail: detail)
    }

    private struct Body: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var instance: String
        var parameter: String?
        var extensions: [String: String]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            // The standard members win over an extension of the same name.
            for (key, value) in extensions where !["type", "title", "status", "detail", "instance", "parameter"].contains(key) {
                try container.encode(value, forKey: Key(stringValue: key))
            }
            try container.encode(type, forKey: Key(stringValue: "type"))
            try container.encode(title, forKey: Key(stringValue: "title"))
            try container.encode(status, forKey: Key(stringValue: "status"))
            try container.encode(detail, forKey: Key(stringValue: "detail"))
            try container.encode(instance, forKey: Key(stringValue: "instance"))
            try container.encodeIfPresent(parameter, forKey: Key(stringValue: "parameter"))
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(type: type, title: title, status: status.code, detail: detail, instance: request.uri.path,
                        parameter: parameter, extensions: extensions)
        let data = try BodyEncoder.bytes(of: body)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == .serviceUnavailable { headers[.retryAfter] = "5" }
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="cip-gateway""# }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into a problem+json response: router 404s and HTTPErrors keep their status, storage
/// outages become 503, anything else a logged 500 without internals.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    static func detail(for status: HTTPResponse.Status) -> String {
        status == .contentTooLarge ? "the request body is larger than this endpoint accepts" : status.reasonPhrase
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response(from: request, context: context)
        } catch let failure as NGSILDFailure {
            return try Problem(failure).response(from: request, context: context)
        } catch let error as HTTPError {
            let detail = error.body ?? (error.status == .notFound
                ? "no resource at \(request.uri.path); see the README for the API's routes" : error.status.reasonPhrase)
            return try Problem(status: error.status, type: "urn:cip:problem:\(error.status.code)",
                               title: error.status.reasonPhrase, detail: detail).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            // Errors Hummingbird and NIO describe themselves (for example a body over its limit: 413).
            return try Problem(status: error.status, type: "urn:cip:problem:\(error.status.code)",
                               title: error.status.reasonPhrase, detail: Self.detail(for: error.status))
                .response(from: request, context: context)
        } catch let error as any TransientFailure where error.isTransient {
            context.logger.warning("storage unavailable", metadata: ["error": "\(error)"])
            return try Problem.unavailable("the database is not reachable right now; try again shortly")
                .response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return try Problem(status: .internalServerError, type: "urn:cip:problem:internal", title: "Internal error",
                               detail: "the gateway could not answer this request; the error is in its log")
                .response(from: request, context: context)
        }
    }
}
