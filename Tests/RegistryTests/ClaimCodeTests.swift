import Foundation
import Digest
import Testing

@testable import Registry

@Suite struct ClaimCodeTests {
    @Test func formatIsFiveGroupsOfFourFromAlphabet() {
        let allowed = Set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
        for _ in 0..<1000 {
            let code = ClaimCode.generate()
            let groups = code.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.count == 5, "\(code)")
            #expect(groups.allSatisfy { $0.count == 4 }, "\(code)")
            #expect(code.filter { $0 != "-" }.allSatisfy { allowed.contains($0) }, "\(code)")
            #expect(!code.contains(where: { "0O1IL".contains($0) }), "\(code)")
            #expect(ClaimCode.isWellFormed(code))
        }
    }

    @Test func alphabetHasNoLookAlikesAndEnoughEntropy() {
        #expect(ClaimCode.alphabet.count == 31)
        #expect(Set(ClaimCode.alphabet).count == 31)
        let bits = Double(ClaimCode.length) * log2(Double(ClaimCode.alphabet.count))
        #expect(bits >= 80, "\(bits) bits")
    }

    @Test func tenThousandCodesAreUnique() {
        let codes = (0..<10_000).map { _ in ClaimCode.generate() }
        #expect(Set(codes).count == 10_000)
    }

    @Test func everyAlphabetCharacterIsUsed() {
        // 2,000 codes × 20 characters: a character missing from all of them would point at a biased generator.
        var seen = Set<Character>()
        for _ in 0..<2000 { seen.formUnion(ClaimCode.generate().filter { $0 != "-" }) }
        #expect(seen.count == 31)
    }

    @Test func normalization() {
        #expect(ClaimCode.normalize("k7qh-2m9x-rt4c-8vwn-j3pa") == "K7QH2M9XRT4C8VWNJ3PA")
        #expect(ClaimCode.normalize("  K7QH 2M9X\tRT4C--8VWN J3PA ") == "K7QH2M9XRT4C8VWNJ3PA")
        #expect(ClaimCode.normalize("") == "")
        #expect(ClaimCode.isWellFormed("k7qh 2m9x rt4c 8vwn j3pa"))
        #expect(!ClaimCode.isWellFormed("K7QH-2M9X-RT4C-8VWN"))  // too short
        #expect(!ClaimCode.isWellFormed("K7QH-2M9X-RT4C-8VWN-J3P0"))  // 0 is not in the alphabet
        #expect(!ClaimCode.isWellFormed("K7QH-2M9X-RT4C-8VWN-J3PÅ"))
    }

    @Test func verifyAcceptsTheCodeInAnySpellingAndRejectsOthers() {
        let code = ClaimCode.generate()
        let salt = ClaimCode.generateSalt()
        let stored = ClaimCode.hash(code, salt: salt)
        #expect(stored.count == 32)
        #expect(ClaimCode.verify(code, salt: salt, hash: stored))
        #expect(ClaimCode.verify(code.lowercased(), salt: salt, hash: stored))
        #expect(ClaimCode.verify(code.replacingOccurrences(of: "-", with: " "), salt: salt, hash: stored))

        var wrong = Array(code)
        wrong[0] = wrong[0] == "A" ? "B" : "A"
        #expect(!ClaimCode.verify(String(wrong), salt: salt, hash: stored))
        #expect(!ClaimCode.verify(ClaimCode.generate(), salt: salt, hash: stored))
        #expect(!ClaimCode.verify("", salt: salt, hash: stored))
        #expect(!ClaimCode.verify(code, salt: ClaimCode.generateSalt(), hash: stored))
        #expect(!ClaimCode.verify(code, salt: salt, hash: Array(stored.dropLast())))
        #expect(!ClaimCode.verify(code, salt: salt, hash: []))
    }

    @Test func hashDependsOnSaltAndIsDeterministic() {
        let code = "K7QH-2M9X-RT4C-8VWN-J3PA"
        let saltA = [UInt8](repeating: 1, count: 16)
        let saltB = [UInt8](repeating: 2, count: 16)
        #expect(ClaimCode.hash(code, salt: saltA) == ClaimCode.hash(code, salt: saltA))
        #expect(ClaimCode.hash(code, salt: saltA) != ClaimCode.hash(code, salt: saltB))
        #expect(ClaimCode.hash(code, salt: saltA) != ClaimCode.hash("K7QH-2M9X-RT4C-8VWN-J3PB", salt: saltA))
        #expect(ClaimCode.hash(code, salt: saltA) == ClaimCode.hash("k7qh2m9xrt4c8vwnj3pa", salt: saltA))
    }

    @Test func saltsAreRandom() {
        let salts = (0..<100).map { _ in ClaimCode.generateSalt() }
        #expect(salts.allSatisfy { $0.count == ClaimCode.saltLength })
        #expect(Set(salts).count == 100)
    }

    @Test func constantTimeEquals() {
        #expect(SHA256.equal([1, 2, 3], [1, 2, 3]))
        #expect(!SHA256.equal([1, 2, 3], [1, 2, 4]))
        #expect(!SHA256.equal([9, 2, 3], [1, 2, 3]))
        #expect(!SHA256.equal([1, 2], [1, 2, 3]))
        #expect(SHA256.equal([], []))
    }

    @Test func seededGeneratorIsReproducible() {
        var a = SplitMix(seed: 42)
        var b = SplitMix(seed: 42)
        #expect(ClaimCode.generate(using: &a) == ClaimCode.generate(using: &b))
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
