import Foundation
import HTTPTypes
import Hummingbird

/// `GET /console/`: the alarm team's console, plain HTML/CSS/JS shipped as resources of the binary (no build
/// toolchain). It reads the integration API and the alarm stream like any other client.
struct ConsoleController<Context: RequestContext> {
    var routes: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        // `/console` and `/console/` are one route; the page refers to its files by absolute paths.
        routes.get("console") { _, _ in try ConsoleFiles.serve("index.html") }
        routes.get("console/:file") { _, context in try ConsoleFiles.serve(context.parameters.get("file") ?? "") }
        return routes
    }
}

/// The console's files (`Console/Files`), read once.
enum ConsoleFiles {
    /// File name → (content type, bytes).
    static let files: [String: (String, [UInt8])] = {
        var files: [String: (String, [UInt8])] = [:]
        for (name, type) in [("index.html", "text/html; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8"),
                             ("console.css", "text/css; charset=utf-8")] {
            let parts = name.split(separator: ".")
            if let url = Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "Files"),
               let data = FileManager.default.contents(atPath: url.path) {
                files[name] = (type, Array(data))
            }
        }
        return files
    }()

    static func serve(_ name: String) throws -> Response {
        guard let (type, bytes) = files[name] else { throw Problem.notFound("no console file \(name)") }
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        // The console runs only its own script and talks only to this gateway.
        headers[HTTPTypes.HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; style-src 'self'; script-src 'self'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
