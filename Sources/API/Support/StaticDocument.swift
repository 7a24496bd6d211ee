import Foundation
import Hummingbird

/// A JSON document that does not change while the gateway runs (the catalogue, the OpenAPI description): encoded
/// once, served from the same bytes on every request, with an ETag so that a client that has it gets 304 Not
/// Modified and no body.
struct StaticDocument: Sendable {
    let body: ByteBuffer
    /// A strong validator over the bytes (FNV-1a 64): the document is ours, so no collision can be forced.
    let etag: String

    init(bytes: [UInt8]) {
        body = ByteBuffer(bytes: bytes)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        etag = "\"\(String(hash, radix: 16))-\(bytes.count)\""
    }

    init<T: Encodable>(encoding value: T) throws {
        self.init(bytes: try BodyEncoder.bytes(of: value))
    }

    /// 200 with the document, or 304 when `If-None-Match` names this version (or is `*`).
    func response(to request: Request) -> Response {
        var headers = HTTPFields()
        headers[.eTag] = etag
        headers[.cacheControl] = "no-cache"
        if let match = request.headers[.ifNoneMatch],
           match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}
