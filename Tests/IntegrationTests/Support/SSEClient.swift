import Foundation

/// A Server-Sent Events client over a plain socket: reads the stream on a thread of its own and keeps every
/// event (id, event name, data) in arrival order.
final class SSEClient: @unchecked Sendable {
    struct Event: Equatable {
        var id: Int64?
        var event: String?
        var data: String
    }

    private let lock = NSLock()
    private var received: [Event] = []
    private var fd: Int32 = -1
    private(set) var status: Int?

    init(port: Int, path: String, lastEventID: Int64? = nil, token: String? = nil) throws {
        fd = try connectLoopback(port: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if let lastEventID { request += "Last-Event-ID: \(lastEventID)\r\n" }
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        request += "\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        let descriptor = fd
        Thread { [weak self] in self?.read(descriptor) }.start()
    }

    deinit { close() }

    func close() {
        lock.lock()
        let descriptor = fd
        fd = -1
        lock.unlock()
        if descriptor >= 0 {
            shutdown(descriptor, Int32(SHUT_RDWR))
            Glibc.close(descriptor)
        }
    }

    var events: [Event] { lock.lock(); defer { lock.unlock() }; return received }

    /// The alarm events' JSON payloads.
    var alarmEvents: [(id: Int64, change: String, alarmId: Int64, state: String)] {
        events.compactMap { event in
            guard event.event == "alarm", let id = event.id,
                  let object = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any],
                  let change = object["change"] as? [String: Any], let alarm = object["alarm"] as? [String: Any]
            else { return nil }
            return (id, change["change"] as? String ?? "", (alarm["id"] as? NSNumber)?.int64Value ?? 0, alarm["state"] as? String ?? "")
        }
    }

    private func read(_ descriptor: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var raw: [UInt8] = []
        var headerDone = false
        var chunked = false
        var text = ""
        var current = Event(data: "")
        var dataLines: [String] = []
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return }
            raw += buffer[0..<count]
            if !headerDone {
                guard let end = Self.find([13, 10, 13, 10], in: raw) else { continue }
                let head = String(decoding: raw[..<end], as: UTF8.self)
                lock.lock(); status = Int(head.dropFirst(9).prefix(3)); lock.unlock()
                chunked = head.lowercased().contains("transfer-encoding: chunked")
                raw.removeFirst(end + 4)
                headerDone = true
            }
            // Undo the chunked transfer encoding: "<size hex>\r\n<bytes>\r\n" ...
            if chunked {
                while let lineEnd = Self.find([13, 10], in: raw) {
                    guard let size = Int(String(decoding: raw[..<lineEnd], as: UTF8.self), radix: 16) else { return }
                    guard raw.count >= lineEnd + 2 + size + 2 else { break }
                    text += String(decoding: raw[(lineEnd + 2)..<(lineEnd + 2 + size)], as: UTF8.self)
                    raw.removeFirst(lineEnd + 2 + size + 2)
                }
            } else {
                text += String(decoding: raw, as: UTF8.self)
                raw.removeAll()
            }
            while let newline = text.firstIndex(of: "\n") {
                let line = String(text[..<newline])
                text = String(text[text.index(after: newline)...])
                if line.isEmpty {
                    if !dataLines.isEmpty {
                        current.data = dataLines.joined(separator: "\n")
                        lock.lock(); received.append(current); lock.unlock()
                    }
                    current = Event(data: "")
                    dataLines = []
                } else if line.hasPrefix("id: ") {
                    current.id = Int64(line.dropFirst(4))
                } else if line.hasPrefix("event: ") {
                    current.event = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    dataLines.append(String(line.dropFirst(6)))
                }
            }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}

/// A TCP connection to 127.0.0.1:`port` for the tests' small HTTP clients.
func connectLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        Glibc.close(fd)
        throw TestFailure("connect to 127.0.0.1:\(port) failed")
    }
    return fd
}
