import Foundation
import NGSILD
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

    /// POSTs `body`; returns the response status. `publicOnly`: the host's addresses must all be public (the
    /// connection goes to the address checked, so a name that resolves anew cannot slip past).
    public func post(_ uri: String, body: [UInt8], headers: [(String, String)], publicOnly: Bool = false) async throws -> Int {
        guard let url = URL(string: uri), let scheme = url.scheme?.lowercased(), let host = url.host, scheme == "http" || scheme == "https" else {
            throw Failure(description: "\(uri) is not an http(s) URL")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        // The target as the URL has it, still percent-encoded: a decoded path could carry CR LF into the request line.
        var path = url.path(percentEncoded: true)
        if path.isEmpty { path = "/" }
        if let query = url.query(percentEncoded: true) { path += "?" + query }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw Failure(description: "\(uri) has characters a request line cannot carry") }
        let isAddress = host.contains(":") || host.split(separator: ".").allSatisfy { Int($0) != nil }
        let tls = try scheme == "https" ? NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // SNI names hosts only; an address is checked against the certificate all the same.
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                }
            }
        let channel: any Channel
        do {
            if publicOnly {
                let addresses = try await Self.resolve(host, port: port)
                guard let first = addresses.first else { throw Failure(description: "\(host) does not resolve") }
                if let private_ = addresses.first(where: { AddressRanges.isPublic($0.ipAddress ?? "") != true }) {
                    throw Failure(description: "\(host) resolves to \(private_.ipAddress ?? "?"), not a public address; only a host named in --notification-hosts may be one")
                }
                channel = try await bootstrap.connect(to: first).get()
            } else {
                channel = try await bootstrap.connect(host: host, port: port).get()
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot connect to \(host):\(port): \(error)")
        }
        // The status handler goes on the one channel that connected (not on each attempt of a dual-stack connect,
        // whose losers would fail a shared promise when they close).
        let promise = channel.eventLoop.makePromise(of: Int.self)
        do {
            try await channel.pipeline.addHandler(StatusHandler(promise: promise)).get()
        } catch {
            channel.close(promise: nil)
            throw Failure(description: "cannot set up the request to \(host):\(port): \(error)")
        }
        let timeout = channel.eventLoop.scheduleTask(in: self.timeout) { channel.close(promise: nil) }
        defer { timeout.cancel() }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        let hostHeader = host.contains(":") ? "[\(host)]" : host
        head.headers.add(name: "Host", value: url.port.map { "\(hostHeader):\($0)" } ?? hostHeader)
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

extension HTTPNotifier {
    /// The host's addresses (getaddrinfo, off the event loops).
    static func resolve(_ host: String, port: Int) async throws -> [SocketAddress] {
        try await Task.detached {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let list else {
                throw Failure(description: "\(host) does not resolve")
            }
            defer { freeaddrinfo(list) }
            var addresses: [SocketAddress] = []
            var next: UnsafeMutablePointer<addrinfo>? = list
            while let entry = next {
                if let address = entry.pointee.ai_addr {
                    switch Int32(address.pointee.sa_family) {
                    case AF_INET:
                        addresses.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    case AF_INET6:
                        addresses.append(address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    default: break
                    }
                }
                next = entry.pointee.ai_next
            }
            return addresses
        }.value
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
