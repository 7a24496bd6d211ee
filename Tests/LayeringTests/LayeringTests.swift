import Foundation
import Testing

/// The layering of the modules, checked on the sources: which module may import which. SwiftPM does not stop a
/// module from importing another that happens to be built, so an import that breaks the layering would
/// otherwise go unnoticed. README.md ("Code layout") explains the layers; change both together.
@Suite struct LayeringTests {
    /// Project modules (and Hummingbird, which only the HTTP edge may use) each module may import.
    static let allowed: [String: Set<String>] = [
        // C libraries and their safe Swift clients.
        "CMosquitto": [], "CLibPQ": [], "CCrypto": [], "CMalloc": [],
        "MQTT": ["CMosquitto"],
        "Postgres": ["CLibPQ", "Models"],
        "Digest": ["CCrypto"],
        "Certificates": ["CCrypto"],
        // The catalogue and the shared value codecs: no dependencies at all.
        "Models": [],
        // What is stored from devices, and the repository protocols the API reads through.
        "Telemetry": [],
        // Domain modules: no HTTP.
        "Storage": ["Models", "NGSILD", "Postgres", "Telemetry"],
        "Access": ["Digest", "Models", "Postgres"],
        "Locks": ["Digest", "Models", "Postgres", "Storage"],
        "Geofence": [],
        "SafeZones": ["Geofence", "Models", "Postgres"],
        "Registry": ["Certificates", "Digest", "Models", "MQTT", "Postgres", "Telemetry"],
        // NGSI-LD's vocabulary, query language and representations: pure.
        "NGSILD": ["Models", "Telemetry"],
        // NGSI-LD notifications: matching into the outbox, delivery out of it.
        "Notifications": ["Models", "NGSILD", "Storage"],
        "Alarms": ["Models", "Postgres", "Storage", "Telemetry"],
        "Ingest": ["Digest", "Geofence", "Models", "MQTT", "Postgres", "SafeZones", "Storage", "Telemetry"],
        // Deletes what may no longer be kept; the purge functions of the schema guard the care records.
        "Retention": ["Models", "Postgres"],
        // The HTTP edge: domain protocols, never the message path (Ingest), the broker client or the database.
        "API": ["Access", "Alarms", "Geofence", "Locks", "Models", "NGSILD", "Registry", "SafeZones", "Telemetry", "Hummingbird", "HummingbirdTLS"],
        // The composition root, and the two executables on top of it.
        "Composition": ["API", "Access", "Alarms", "Ingest", "Locks", "Models", "NGSILD", "Notifications", "Registry", "Retention", "SafeZones", "Storage", "Telemetry", "MQTT", "Postgres", "Hummingbird"],
        "CIPGateway": ["CMalloc", "Composition", "API", "Access", "Alarms", "Ingest", "Locks", "Models", "Registry", "Storage", "Telemetry", "MQTT", "Postgres", "Hummingbird"],
        // libpq directly, for the one thing the product's wrapper must not be in: the database's own rate (bench-api).
        "CIPBench": ["Composition", "API", "Access", "Alarms", "Geofence", "Ingest", "Locks", "Models", "Registry", "Retention", "SafeZones", "Storage", "Telemetry", "MQTT", "Postgres", "Hummingbird", "CLibPQ"],
    ]

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// `import X` lines of every Swift file of a module, with `@testable`/attributes and submodules ignored.
    static func imports(of module: String) throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        let directory = sources.appendingPathComponent(module)
        guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [:] }
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
                guard words.count >= 2, words[0] == "import" || (words.count >= 3 && words[1] == "import") else { continue }
                let name = words[words[0] == "import" ? 1 : 2].split(separator: ".")[0]
                result[String(name), default: []].insert(file.lastPathComponent)
            }
        }
        return result
    }

    @Test func everyModuleIsInTheTable() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { !$0.hasPrefix(".") }
        #expect(Set(modules) == Set(Self.allowed.keys), "a new module needs its row in LayeringTests.allowed")
    }

    @Test(arguments: allowed.keys.sorted())
    func importsFollowTheLayers(module: String) throws {
        let projectModules = Set(Self.allowed.keys).union(["Hummingbird", "HummingbirdTLS"])
        for (imported, files) in try Self.imports(of: module) where projectModules.contains(imported) {
            #expect(Self.allowed[module]?.contains(imported) == true,
                    "\(module) imports \(imported) (\(files.sorted().joined(separator: ", "))), which its layer may not")
        }
    }

    @Test func theCheckSeesAViolation() throws {
        // The check itself: Registry imports MQTT and Models, which are allowed; Models importing Registry would not be.
        let registry = try Self.imports(of: "Registry")
        #expect(registry["MQTT"] != nil && registry["Models"] != nil)
        #expect(Self.allowed["Models"]?.contains("Registry") == false)
    }
}
