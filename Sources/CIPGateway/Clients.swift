import Access
import ArgumentParser
import Composition
import Foundation
import Logging
import Postgres
import Storage

/// `cip-gateway clients ...`: API clients (bearer tokens with roles, tenants and a clearance).
struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Administer API clients: create, list, rotate, revoke.",
        subcommands: [Create.self, List.self, Rotate.self, Revoke.self])

    static func store(_ database: DatabaseOptions) async throws -> ClientStore {
        var logger = Logger(label: "cip.clients")
        logger.logLevel = .warning
        let pool = PostgresPool(url: database.url, size: 1, logger: logger)
        // The table may not exist yet on a fresh database.
        let migrator = Migrator(migrations: try Migration.bundled(), logger: logger)
        try await pool.withConnection { try migrator.migrate($0) }
        return ClientStore(pool: pool)
    }

    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ClientError {
            throw ValidationError(error.description)
        }
    }

    /// `cip-gateway clients create --name --roles --tenants --clearance`: prints the token once.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a client and print its token (shown once).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A name of letters, digits, - _ .") var name: String
        @Option(help: "Comma-separated: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).") var roles: String
        @Option(help: "Comma-separated tenants whose devices the client sees, or * for all.") var tenants: String = "*"
        @Option(help: "Highest classification the client may read: 1 open, 2 internal, 3 sensitive.") var clearance: Int = 1

        func run() async throws {
            var parsed: Set<Role> = []
            for text in roles.split(separator: ",") {
                guard let role = Role(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown role \(text); roles are \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                parsed.insert(role)
            }
            let tenantSet: Set<String>? = tenants == "*" ? nil : Set(tenants.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            let store = try await Clients.store(database)
            let token = try await Clients.run {
                try await store.create(name: name, roles: parsed, tenants: tenantSet, clearance: clearance)
            }
            let output: [String: Any] = ["name": name, "token": token, "roles": parsed.map(\.rawValue).sorted(),
                                         "tenants": tenantSet.map { $0.sorted() } ?? ["*"], "clearance": clearance]
            let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients (never their tokens).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            for client in try await Clients.store(database).list() {
                let identity = client.identity
                let state = client.revokedAtMicros != nil ? "revoked" : "active"
                print([identity.name, identity.roles.map(\.rawValue).sorted().joined(separator: ","),
                       identity.tenants.map { $0.sorted().joined(separator: ",") } ?? "*", "clearance \(identity.clearance)",
                       state].joined(separator: "\t"))
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a client a new token (the old one stops working) and print it.")
        @OptionGroup var database: DatabaseOptions
        @Option var name: String

        func run() async throws {
            let store = try await Clients.store(database)
            print(try await Clients.run { try await store.rotate(name: name) })
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a client: its token stops working.")
        @OptionGroup var database: DatabaseOptions
        @Option var name: String

        func run() async throws {
            let store = try await Clients.store(database)
            try await Clients.run { try await store.revoke(name: name) }
            print("revoked \(name)")
        }
    }
}
