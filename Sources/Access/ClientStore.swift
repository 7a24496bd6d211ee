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
                    VALUES ($1, $2::text[], $3::text[], $4::smallint, decode($5, 'hex'))
                    """, [name, PostgresArray.text(roles.map(\.rawValue).sorted()),
                          PostgresArray.text(tenants.map { $0.sorted() } ?? ["*"]), String(clearance),
                          Hex.encode(ClientToken.hash(token))])
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
                UPDATE api_clients SET token_hash = decode($2, 'hex'), rotated_at = now()
                WHERE name = $1 AND revoked_at IS NULL
                """, [name, Hex.encode(ClientToken.hash(token))]).affected
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
                """).all.map { row in
                APIClient(identity: Self.identity(row), createdAtMicros: row["created_us"].flatMap { Int64($0) } ?? 0,
                          rotatedAtMicros: row["rotated_us"].flatMap { Int64($0) },
                          revokedAtMicros: row["revoked_us"].flatMap { Int64($0) })
            }
        }
    }

    /// The client a token belongs to, if the token is current and the client not revoked.
    /// The hashes of every token in use (clients not revoked): a handful of rows, read now and then so that a
    /// valid token is told from a guess without a lookup.
    public func activeTokenHashes() async throws -> Set<[UInt8]> {
        try await pool.withConnection { connection in
            Set(try connection.query("SELECT encode(token_hash, 'hex') AS hash FROM api_clients WHERE revoked_at IS NULL")
                .all.compactMap { $0["hash"].flatMap(Hex.decode) })
        }
    }

    public func identity(token: String) async throws -> ClientIdentity? {
        let hash = Hex.encode(ClientToken.hash(token))
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT name, array_to_string(roles, ',') AS roles, array_to_string(tenants, ',') AS tenants, clearance
                FROM api_clients WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL
                """, [hash]).first.map(Self.identity)
        }
    }

    static func identity(_ row: PostgresRow) -> ClientIdentity {
        let tenants = (row["tenants"] ?? "").split(separator: ",").map(String.init)
        return ClientIdentity(name: row["name"] ?? "",
                              roles: Set((row["roles"] ?? "").split(separator: ",").compactMap { Role(rawValue: String($0)) }),
                              tenants: tenants.contains("*") ? nil : Set(tenants),
                              clearance: row["clearance"].flatMap { Int($0) } ?? 1)
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
