import Digest
import Foundation
import Postgres

/// A registered API client as listed (never with its token).
public struct APIClient: Sendable, Equatable {
    public var identity: ClientIdentity
    public var createdAtMicros: Int64
    public var rotatedAtMicros: Int64?
    public var revokedAtMicros: Int64?
}

public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)
    case notFound(String)
    case exists(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .notFound(let name): "no API client named \(name)"
        case .exists(let name): "an API client named \(name) exists already"
        }
    }
}

/// Bearer tokens: `cip_` + 32 random bytes in base64url; stored as their SHA-256 only.
public enum ClientToken {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return "cip_" + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ token: String) -> [UInt8] { SHA256.hash(Array(token.utf8)) }
}

/// API clients in PostgreSQL (`api_clients`, migration 0006).
public struct ClientStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// Creates a client and returns its token (shown once).
    public func create(name: String, roles: Set<Role>, tenants: Set<String>?, clearance: Int) async throws -> String {
        try Self.validate(name: name, roles: roles, tenants: tenants, clearance: clearance)
        let token = ClientToken.generate()
        do {
            try await pool.withConnection { connection in
                try connection.query("""
                    INSERT INTO api_clients (name, roles, tenants, clearance, token_hash)
                    VALUES ($1, $2::text[], $3::text[], $4::smallint, $5::bytea)
                    """, [name, PostgresArray.text(roles.map(\.rawValue).sorted()),
                          PostgresArray.text(tenants.map { $0.sorted() } ?? ["*"]), clearance,
                          ClientToken.hash(token)])
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw ClientError.exists(name)
        }
        return token
    }

    /// A new token for the client; the old one stops working at once (within the cache time of running gateways).
    public func rotate(name: String) async throws -> String {
        let token = ClientToken.generate()
        let updated = try await pool.withConnection { connection in
            try connection.query("""
                UPDATE api_clients SET token_hash = $2::bytea, rotated_at = now()
                WHERE name = $1 AND revoked_at IS NULL
                """, [name, ClientToken.hash(token)]).affected
        }
        guard updated == 1 else { throw ClientError.notFound(name) }
        return token
    }

    public func revoke(name: String) async throws {
        let updated = try await pool.withConnection { connection in
            try connection.query("UPDATE api_clients SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", [name]).affected
        }
        guard updated == 1 else { throw ClientError.notFound(name) }
    }

    public func list() async throws -> [APIClient] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT name, array_to_string(roles, ',') AS roles, array_to_string(tenants, ',') AS tenants, clearance,
                       \(PostgresSQL.epochMicros("created_at")) AS created_us,
                       \(PostgresSQL.epochMicros("rotated_at")) AS rotated_us,
                       \(PostgresSQL.epochMicros("revoked_at")) AS revoked_us
                FROM api_clients ORDER BY name
                """).all.map { row throws(PostgresError) in
                try APIClient(identity: Self.identity(row), createdAtMicros: row.decode("created_us"),
                              rotatedAtMicros: row.decodeIfPresent("rotated_us"), revokedAtMicros: row.decodeIfPresent("revoked_us"))
            }
        }
    }

    /// The client a token belongs to, if the token is current and the client not revoked.
    /// The hashes of every token in use (clients not revoked): a handful of rows, read now and then so that a
    /// valid token is told from a guess without a lookup.
    public func activeTokenHashes() async throws -> Set<[UInt8]> {
        try await pool.withConnection { connection in
            Set(try connection.query("SELECT token_hash FROM api_clients WHERE revoked_at IS NULL")
                .all.map { row throws(PostgresError) in try row.decode("token_hash", as: [UInt8].self) })
        }
    }

    public func identity(token: String) async throws -> ClientIdentity? {
        let hash = ClientToken.hash(token)
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT name, array_to_string(roles, ',') AS roles, array_to_string(tenants, ',') AS tenants, clearance
                FROM api_clients WHERE token_hash = $1::bytea AND revoked_at IS NULL
                """, [hash]).first.map { row throws(PostgresError) in try Self.identity(row) }
        }
    }

    static func identity(_ row: PostgresRow) throws(PostgresError) -> ClientIdentity {
        let tenants = try row.decode("tenants", as: String.self).split(separator: ",").map(String.init)
        // A role this version does not know (written by a newer one) grants nothing here.
        let roles = try row.decode("roles", as: String.self).split(separator: ",").compactMap { Role(rawValue: String($0)) }
        return try ClientIdentity(name: row.decode("name"), roles: Set(roles),
                                  tenants: tenants.contains("*") ? nil : Set(tenants), clearance: row.decode("clearance"))
    }

    static func validate(name: String, roles: Set<Role>, tenants: Set<String>?, clearance: Int) throws {
        guard (1...64).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ClientError.invalid("the name must be 1 to 64 letters, digits or - _ .")
        }
        guard !roles.isEmpty else {
            throw ClientError.invalid("give at least one role: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let tenants, tenants.isEmpty || tenants.contains(where: { $0.isEmpty || $0.contains(",") || $0 == "*" }) {
            throw ClientError.invalid("tenants must be names (or * alone for every tenant)")
        }
        guard (1...3).contains(clearance) else { throw ClientError.invalid("clearance must be 1, 2 or 3") }
    }
}
