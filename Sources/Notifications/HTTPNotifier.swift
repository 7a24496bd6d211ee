import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Posts one notification over HTTP/1.1 (HTTPS with the system's trust store) and reads the status: a small client
/// of its own, one connection per notification, with a connect and a whole-exchange timeout.
public struct HTTPNotifier: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let group: any EventLoopGroup
    let timeout: TimeAmount

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: TimeAmount = .seconds(10)) {
        self.group = group
        self.timeout = timeout
    }

    /// POSTs `body`; returns the response status.
    public func post(_ uri: String, body: [UInt8], headers: [(String, String)]) async throws -> Int {
        guard let url = URL(string: uri), let scheme = url.scheme?.lowercased(), let host = url.host, scheme == "http" || scheme == "https" else {
            throw Failure(description: "\(uri) is not an http(s) URL")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        let tls = try scheme == "https" ? NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        let promise = group.next().makePromise(of: Int.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusHandler(promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw Failure(description: "cannot connect to \(host):\(port): \(error)")
        }
        let timeout = channel.eventLoop.scheduleTask(in: self.timeout) { channel.close(promise: nil) }
        defer { timeout.cancel() }
        var path = url.path.isEmpty ? "/" : url.path
        if let query = url.query { path += "?" + query }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "User-Agent", value: "cip-gateway")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            return try await promise.futureResult.get()
        } catch {
            throw Failure(description: "no answer from \(host):\(port): \(error)")
        }
    }
}

/// Completes the promise with the response's status once the response has ended (or fails it when the connection
/// closes first: an error, the timeout).
private final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<Int>
    var status: Int?
    var done = false

    init(promise: EventLoopPromise<Int>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body: break
        case .end:
            finish(.success(status ?? 0))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.ioOnClosedChannel))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<Int, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
    }
}
