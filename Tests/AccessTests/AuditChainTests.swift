import Digest
import Models
import Testing
@testable import Access

@Suite struct AuditChainTests {
    static func entry(_ id: Int64, client: String = "reader", path: String = "/x", subjects: [String?] = ["cr-1"]) -> AuditChain.Entry {
        AuditChain.Entry(id: id, atMicros: 1_795_996_800_123_456, client: client, roles: "auditor", method: "GET", endpoint: "/x",
                         path: path, subjects: subjects, records: 1, dataClass: 3, status: 200, prevHash: [], hash: [])
    }

    /// A chain as the database would write it.
    static func chain(_ entries: [AuditChain.Entry], anchor: [UInt8]) -> [AuditChain.Entry] {
        var previous = anchor
        return entries.map { entry in
            var chained = entry
            chained.prevHash = previous
            chained.hash = AuditChain.hash(previous: previous, entry)
            previous = chained.hash
            return chained
        }
    }

    static let anchor = SHA256.hash([])

    static func verify(_ entries: [AuditChain.Entry], head: AuditChain.Entry?) -> AuditChain.Finding {
        var verifier = AuditChain.Verifier(anchorHash: anchor)
        for entry in entries where !verifier.take(entry) { break }
        return verifier.finish(AuditChain.Ends(anchorHash: anchor, headId: head?.id ?? 0, headHash: head?.hash ?? anchor))
    }

    @Test func theCanonicalFormIsUnambiguous() {
        // Moving text between fields, or a separator inside a field, changes the bytes.
        #expect(AuditChain.canonical(Self.entry(1, client: "ab", path: "c")) != AuditChain.canonical(Self.entry(1, client: "a", path: "bc")))
        #expect(AuditChain.canonical(Self.entry(1, subjects: ["a\u{1F}b"])) != AuditChain.canonical(Self.entry(1, subjects: ["a", "b"])))
        #expect(AuditChain.canonical(Self.entry(1, subjects: ["ab"])) != AuditChain.canonical(Self.entry(1, subjects: ["a", "b"])))
        #expect(AuditChain.canonical(Self.entry(1, subjects: ["a", nil])) != AuditChain.canonical(Self.entry(1, subjects: ["a"])))
        #expect(AuditChain.canonical(Self.entry(1, subjects: [])) != AuditChain.canonical(Self.entry(1, subjects: [""])))
        #expect(AuditChain.canonical(Self.entry(1, client: "1:x")) != AuditChain.canonical(Self.entry(1, client: "x")))
        #expect(String(decoding: AuditChain.canonical(Self.entry(7)), as: UTF8.self)
                == "1:716:17959968001234566:reader7:auditor3:GET2:/x2:/x7:14:cr-11:11:33:200")
    }

    @Test func anIntactChainVerifies() {
        let chained = Self.chain((1...5).map { Self.entry($0) }, anchor: Self.anchor)
        guard case .intact(5, let head) = Self.verify(chained, head: chained.last) else { Issue.record("not intact"); return }
        #expect(head == "5:" + Hex.encode(chained[4].hash))
        guard case .intact(0, _) = Self.verify([], head: nil) else { Issue.record("an empty chain is intact"); return }
    }

    @Test func anEditIsFoundAtTheEditedEntry() {
        var chained = Self.chain((1...5).map { Self.entry($0) }, anchor: Self.anchor)
        chained[2].client = "someone-else"
        #expect(Self.verify(chained, head: chained.last) == .broken(id: 3, reason: "its content does not match its hash (the entry was edited)"))
    }

    @Test func aRemovedOrInsertedEntryIsFoundAtTheNextOne() {
        let chained = Self.chain((1...5).map { Self.entry($0) }, anchor: Self.anchor)
        var removed = chained
        removed.remove(at: 1)
        guard case .broken(let id, _) = Self.verify(removed, head: chained.last) else { Issue.record("not found"); return }
        #expect(id == 3)
        var rehashed = chained
        rehashed[1].client = "x"
        rehashed[1].hash = AuditChain.hash(previous: rehashed[1].prevHash, rehashed[1])  // a careful forger
        guard case .broken(let next, _) = Self.verify(rehashed, head: chained.last) else { Issue.record("not found"); return }
        #expect(next == 3, "rehashing one entry breaks the link to the next")
    }

    @Test func aRemovedNewestEntryIsFoundAtTheHead() {
        let chained = Self.chain((1...5).map { Self.entry($0) }, anchor: Self.anchor)
        guard case .broken(let id, _) = Self.verify(Array(chained.dropLast()), head: chained.last) else { Issue.record("not found"); return }
        #expect(id == nil)
    }
}
