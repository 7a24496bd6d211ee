import Digest
import Foundation
import Models
import Postgres

/// The audit trail's hash chain (migration 0016): each entry's hash is SHA-256 over the previous entry's hash and
/// the entry's canonical bytes. The database builds the chain; this recomputes it, independently, to find the first
/// entry that was edited, removed or slipped in.
public enum AuditChain {
    /// An entry as stored, its fields as the canonical form writes them.
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var atMicros: Int64
        public var client: String
        public var roles: String
        public var method: String
        public var endpoint: String
        public var path: String
        /// In order, flattened; nil for a NULL element.
        public var subjects: [String?]
        /// The array's number of dimensions as stored (0 when empty).
        public var subjectDimensions: Int
        public var records: Int
        public var dataClass: Int
        public var status: Int
        public var prevHash: [UInt8]
        public var hash: [UInt8]

        public init(id: Int64, atMicros: Int64, client: String, roles: String, method: String, endpoint: String, path: String,
                    subjects: [String?], subjectDimensions: Int? = nil, records: Int, dataClass: Int, status: Int,
                    prevHash: [UInt8], hash: [UInt8]) {
            self.id = id
            self.atMicros = atMicros
            self.client = client
            self.roles = roles
            self.method = method
            self.endpoint = endpoint
            self.path = path
            self.subjects = subjects
            self.subjectDimensions = subjectDimensions ?? (subjects.isEmpty ? 0 : 1)
            self.records = records
            self.dataClass = dataClass
            self.status = status
            self.prevHash = prevHash
            self.hash = hash
        }
    }

    /// The bytes an entry's hash covers: each field as its length in bytes, ':' and its UTF-8 text, so that no
    /// content of one field can pass for another's; the subjects field is their number of dimensions followed by each
    /// element the same way (a NULL element as '-').
    public static func canonical(_ entry: Entry) -> [UInt8] {
        func prefixed(_ text: String) -> String { "\(text.utf8.count):\(text)" }
        let subjects = String(entry.subjectDimensions) + entry.subjects.map { $0.map(prefixed) ?? "-" }.joined()
        let fields = [String(entry.id), String(entry.atMicros), entry.client, entry.roles, entry.method, entry.endpoint, entry.path,
                      subjects, String(entry.records), String(entry.dataClass), String(entry.status)]
        return Array(fields.map(prefixed).joined().utf8)
    }

    public static func hash(previous: [UInt8], _ entry: Entry) -> [UInt8] {
        SHA256.hash(previous + canonical(entry))
    }

    /// The chain's two ends as the database keeps them.
    public struct Ends: Sendable, Equatable {
        /// The hash the first entry follows (the last entry retention removed, or the chain's start).
        public var anchorHash: [UInt8]
        /// The newest entry.
        public var headId: Int64
        public var headHash: [UInt8]

        public init(anchorHash: [UInt8], headId: Int64, headHash: [UInt8]) {
            self.anchorHash = anchorHash
            self.headId = headId
            self.headHash = headHash
        }
    }

    public enum Finding: Sendable, Equatable, CustomStringConvertible {
        case intact(entries: Int, head: String)
        /// The first broken link: the entry at which the chain stops holding (nil: after the last entry).
        case broken(id: Int64?, reason: String)

        public var description: String {
            switch self {
            case .intact(let entries, let head): "audit chain intact: \(entries) entries; head \(head) (keep it outside the database; --known checks it later)"
            case .broken(let id, let reason): "audit chain broken at \(id.map { "entry \($0)" } ?? "its head"): \(reason)"
            }
        }
    }

    /// Follows the chain from the anchor, entry by entry in id order, to the head.
    public struct Verifier: Sendable {
        private var previous: [UInt8]
        private var lastId: Int64?
        private(set) var count = 0
        private(set) var finding: Finding?

        public init(anchorHash: [UInt8]) {
            previous = anchorHash
        }

        /// Takes the next entry; false once the chain is broken (the finding says where).
        @discardableResult
        public mutating func take(_ entry: Entry) -> Bool {
            guard finding == nil else { return false }
            if let lastId, entry.id <= lastId {
                finding = .broken(id: entry.id, reason: "entries out of order")
            } else if entry.prevHash != previous {
                finding = .broken(id: entry.id, reason: "it does not follow the entry before it (an entry was removed or inserted before it)")
            } else if AuditChain.hash(previous: previous, entry) != entry.hash {
                finding = .broken(id: entry.id, reason: "its content does not match its hash (the entry was edited)")
            }
            guard finding == nil else { return false }
            previous = entry.hash
            lastId = entry.id
            count += 1
            return true
        }

        /// The result once every entry was taken.
        public func finish(_ ends: Ends) -> Finding {
            if let finding { return finding }
            if previous != ends.headHash || (lastId ?? ends.headId) != ends.headId {
                return .broken(id: nil, reason: "the newest entry is not the chain's head (entries after entry \(lastId.map(String.init) ?? "none") were removed)")
            }
            return .intact(entries: count, head: "\(ends.headId):\(Hex.encode(ends.headHash))")
        }
    }
}

/// Reads the chain for `cip-gateway audit verify` (the audit trail's home is this module).
public struct PostgresAuditChainReader: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Verifies the whole chain in one snapshot (REPEATABLE READ): entries written meanwhile are not half seen.
    public func verify(known: [(id: Int64, hash: [UInt8])] = [], pageSize: Int = 10_000) async throws -> AuditChain.Finding {
        try await pool.withConnection { connection in
            try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? connection.execute("ROLLBACK") }
            let row = try connection.query("SELECT anchor_id, anchor_hash, head_id, head_hash FROM audit_chain").single()
            let ends = AuditChain.Ends(anchorHash: try row.decode("anchor_hash"), headId: try row.decode("head_id"),
                                       headHash: try row.decode("head_hash"))
            let anchorId: Int64 = try row.decode("anchor_id")
            var verifier = AuditChain.Verifier(anchorHash: ends.anchorHash)
            let expected = Dictionary(known.map { ($0.id, $0.hash) }, uniquingKeysWith: { first, _ in first })
            // Entries retention removed: the last of them is the anchor (its hash must be the one recorded), the
            // others are gone as they should be.
            if let recorded = expected[anchorId], anchorId > 0, recorded != ends.anchorHash {
                return .broken(id: anchorId, reason: "its hash is not the one recorded outside the database (the chain was rewritten)")
            }
            var seen = Set(expected.keys.filter { $0 <= anchorId })
            var after: Int64 = 0
            while true {
                let page = try Self.entries(connection, afterId: after, limit: pageSize)
                for entry in page {
                    guard verifier.take(entry) else { return verifier.finish(ends) }
                    if let hash = expected[entry.id] {
                        guard hash == entry.hash else {
                            return .broken(id: entry.id, reason: "its hash is not the one recorded outside the database (the chain was rewritten)")
                        }
                        seen.insert(entry.id)
                    }
                }
                guard let last = page.last, page.count == pageSize else { break }
                after = last.id
            }
            let finding = verifier.finish(ends)
            if case .intact = finding, let missing = expected.keys.filter({ !seen.contains($0) }).min() {
                // Above the anchor, nobody may remove an entry.
                return .broken(id: missing, reason: "an entry recorded outside the database is not in the chain")
            }
            return finding
        }
    }

    /// Entries after `afterId`, in id order, at most `limit`.
    static func entries(_ connection: PostgresConnection, afterId: Int64, limit: Int) throws -> [AuditChain.Entry] {
        try connection.query("""
            SELECT id, \(PostgresSQL.epochMicros("at")) AS at_micros, client, roles, method,
                   endpoint, path, to_json(subjects)::text AS subjects, coalesce(array_ndims(subjects), 0) AS dims,
                   records, class, status, prev_hash, hash
            FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2
            """, [afterId, limit]).all.map { row in
            AuditChain.Entry(
                id: try row.decode("id"), atMicros: try row.decode("at_micros"), client: try row.decode("client"),
                roles: try row.decode("roles"), method: try row.decode("method"), endpoint: try row.decode("endpoint"),
                path: try row.decode("path"), subjects: Self.flattened(try row.decode("subjects", as: String.self)),
                subjectDimensions: try row.decode("dims"),
                records: try row.decode("records"), dataClass: try row.decode("class"), status: try row.decode("status"),
                prevHash: try row.decode("prev_hash"), hash: try row.decode("hash"))
        }
    }

    /// The elements of a JSON array of any depth, in order; null as nil.
    static func flattened(_ json: String) -> [String?] {
        func walk(_ value: Any) -> [String?] {
            if let array = value as? [Any] { return array.flatMap(walk) }
            return [value as? String]
        }
        guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return [] }
        return walk(value)
    }
}
