import Testing
@testable import Locks

/// The lock's event numbering: what each arriving number says about the ones that did not arrive.
@Suite struct EventSequenceTests {
    typealias Gap = EventSequence.Gap

    @Test func firstNumberIsNoGap() {
        #expect(EventSequence.place(40, after: nil, gaps: []) == .first)
        #expect(EventSequence.last(after: .first, sequence: 40, previous: nil) == 40)
    }

    @Test func nextNumberIsInOrder() {
        #expect(EventSequence.place(8, after: 7, gaps: []) == .inOrder)
    }

    @Test func skippedNumbersAreAGap() {
        #expect(EventSequence.place(12, after: 7, gaps: []) == .gap(Gap(first: 8, last: 11)))
        #expect(EventSequence.last(after: .gap(Gap(first: 8, last: 11)), sequence: 12, previous: 7) == 12)
    }

    @Test("a late number narrows its gap: at either edge or splitting it")
    func lateNumbersFillGaps() {
        let gap = Gap(id: 5, first: 8, last: 11)
        #expect(EventSequence.place(8, after: 12, gaps: [gap]) == .filled(gap: gap, remaining: [Gap(first: 9, last: 11)]))
        #expect(EventSequence.place(11, after: 12, gaps: [gap]) == .filled(gap: gap, remaining: [Gap(first: 8, last: 10)]))
        #expect(EventSequence.place(9, after: 12, gaps: [gap]) == .filled(gap: gap, remaining: [Gap(first: 8, last: 8), Gap(first: 10, last: 11)]))
        let single = Gap(id: 6, first: 3, last: 3)
        #expect(EventSequence.place(3, after: 12, gaps: [single]) == .filled(gap: single, remaining: []))
        #expect(EventSequence.last(after: .filled(gap: single, remaining: []), sequence: 3, previous: 12) == 12)
    }

    @Test("numbers a device may send at the edges of Int64 never trap; absurd ones are ignored, huge jumps are a restart")
    func hostileNumbers() {
        #expect(EventSequence.place(.max, after: 5, gaps: []) == .ignored)
        #expect(EventSequence.place(5, after: .max, gaps: []) == .first, "a stored number past the ceiling is no basis")
        #expect(EventSequence.place(-1, after: 5, gaps: []) == .ignored)
        #expect(EventSequence.place(.min, after: 0, gaps: []) == .ignored)
        #expect(EventSequence.place(EventSequence.ceiling, after: 3, gaps: []) == .restarted)
        #expect(EventSequence.place(3 + EventSequence.maxGap + 1, after: 3, gaps: []) == .gap(Gap(first: 4, last: 3 + EventSequence.maxGap)))
        #expect(EventSequence.place(3 + EventSequence.maxGap + 2, after: 3, gaps: []) == .restarted)
        #expect(EventSequence.last(after: .ignored, sequence: .max, previous: 5) == 5)
    }

    @Test("a number already seen is a repeat; 1 after a higher number is a restart")
    func repeatsAndRestarts() {
        #expect(EventSequence.place(5, after: 12, gaps: []) == .repeated)
        #expect(EventSequence.place(12, after: 12, gaps: []) == .repeated)
        #expect(EventSequence.place(1, after: 12, gaps: []) == .restarted)
        #expect(EventSequence.last(after: .restarted, sequence: 1, previous: 12) == 1)
        #expect(EventSequence.last(after: .repeated, sequence: 5, previous: 12) == 12)
    }
}
