import Digest
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
        public var subjects: [String]
        public var records: Int
        public var dataClass: Int
        public var status: Int
        public var prevHash: [UInt8]
        public var hash: [UInt8]

        public init(id: Int64, atMicros: Int64, client: String, roles: String, method: String, endpoint: String, path: String,
                    subjects: [String], records: Int, dataClass: Int, status: Int, prevHash: [UInt8], hash: [UInt8]) {
            self.id = id
            self.atMicros = atMicros
            self.client = client
            self.roles = roles
            self.method = method
            self.endpoint = endpoint
            self.path = path
            self.subjects = subjects
            self.records = records
            self.dataClass = dataClass
            self.status = status
            self.prevHash = prevHash
            self.hash = hash
        }
    }

    /// The bytes an entry's hash covers: each field as its length in bytes, ':' and its UTF-8 text (so that no
    /// choice of client name or path can make two entries read alike); subjects joined by U+001F.
    public static func canonical(_ entry: Entry) -> [UInt8] {
        let fields = [String(entry.id), String(entry.atMicros), entry.client, entry.roles, entry.method, entry.endpoint, entry.path,
                      entry.subjects.joined(separator: "\u{1F}"), String(entry.records), String(entry.dataClass), String(entry.status)]
        var bytes: [UInt8] = []
        for field in fields {
            let utf8 = Array(field.utf8)
            bytes += Array(String(utf8.count).utf8) + [UInt8(ascii: ":")] + utf8
        }
        return bytes
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
        case intact(entries: Int)
        /// The first broken link: the entry at which the chain stops holding (nil: after the last entry).
        case broken(id: Int64?, reason: String)

        public var description: String {
            switch self {
            case .intact(let entries): "audit chain intact: \(entries) entries"
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
            return .intact(entries: count)
        }
    }
}

/// Reads the chain for `cip-gateway audit verify` (the audit trail's home is this module).
public struct PostgresAuditChainReader: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func ends() async throws -> AuditChain.Ends {
        try await pool.withConnection { connection in
            let row = try connection.query("SELECT anchor_hash, head_id, head_hash FROM audit_chain").single()
            return AuditChain.Ends(anchorHash: try row.decode("anchor_hash"), headId: try row.decode("head_id"),
                                   headHash: try row.decode("head_hash"))
        }
    }

    /// Entries after `afterId`, in id order, at most `limit`.
    public func entries(afterId: Int64, limit: Int) async throws -> [AuditChain.Entry] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, ((extract(epoch FROM at) * 1000000)::numeric(20, 0))::bigint AS at_micros, client, roles, method,
                       endpoint, path, array_to_string(subjects, chr(31)) AS subjects, records, class, status, prev_hash, hash
                FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2
                """, [afterId, limit]).all.map { row in
                let subjects: String = try row.decode("subjects")
                return AuditChain.Entry(
                    id: try row.decode("id"), atMicros: try row.decode("at_micros"), client: try row.decode("client"),
                    roles: try row.decode("roles"), method: try row.decode("method"), endpoint: try row.decode("endpoint"),
                    path: try row.decode("path"), subjects: subjects.isEmpty ? [] : subjects.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init),
                    records: try row.decode("records"), dataClass: try row.decode("class"), status: try row.decode("status"),
                    prevHash: try row.decode("prev_hash"), hash: try row.decode("hash"))
            }
        }
    }

    /// Verifies the whole chain, a page at a time.
    public func verify(pageSize: Int = 10_000) async throws -> AuditChain.Finding {
        let ends = try await ends()
        var verifier = AuditChain.Verifier(anchorHash: ends.anchorHash)
        var after: Int64 = 0
        while true {
            let page = try await entries(afterId: after, limit: pageSize)
            for entry in page where !verifier.take(entry) { return verifier.finish(ends) }
            guard let last = page.last, page.count == pageSize else { break }
            after = last.id
        }
        return verifier.finish(ends)
    }
}
