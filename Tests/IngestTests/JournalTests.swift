import Foundation
import Logging
import Testing

@testable import Ingest

@Suite struct JournalTests {
    static func directory() -> String {
        NSTemporaryDirectory() + "journal-test-\(UInt32.random(in: 0...UInt32.max))"
    }

    static let logger = Logger(label: "test")

    @Test func appendsAndReadsInOrder() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        for index in 0..<100 {
            let sequence = journal.append(topic: "devices/d/telemetry", payload: Array("m\(index)".utf8),
                                          receivedAtMicros: Int64(index), urgent: index % 10 == 0)
            #expect(sequence == UInt64(index + 1))
        }
        let reader = journal.reader(after: 0)
        let first = reader.next(maxRecords: 60)
        let rest = reader.next(maxRecords: 60)
        #expect(first.count == 60)
        #expect(rest.count == 40)
        #expect(reader.next(maxRecords: 60).isEmpty)
        #expect((first + rest).map { String(decoding: $0.payload, as: UTF8.self) } == (0..<100).map { "m\($0)" })
        #expect(rest.last?.receivedAtMicros == 99)
        #expect(journal.backlog == 100)
    }

    @Test func reopenContinuesAfterCheckpointAndDeletesCommittedSegments() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = Journal.Configuration(directory: path)
        configuration.segmentBytes = 1_000  // many small segments
        do {
            let journal = try Journal(configuration: configuration, logger: Self.logger)
            for index in 0..<200 {
                journal.append(topic: "t", payload: [UInt8](repeating: UInt8(index % 256), count: 50), receivedAtMicros: 1)
            }
            #expect(journal.segmentCount > 5)
            let before = journal.segmentCount
            journal.markCommitted(through: 150)
            #expect(journal.segmentCount < before)
            #expect(try Journal.listSegments(in: path).count == journal.segmentCount)
        }
        let reopened = try Journal(configuration: configuration, logger: Self.logger)
        #expect(reopened.committedSequence == 150)
        let records = reopened.reader(after: reopened.committedSequence).next(maxRecords: 1_000)
        #expect(records.map(\.sequence) == Array(151...200))
        #expect(reopened.append(topic: "t", payload: [1], receivedAtMicros: 1) == 201)
    }

    @Test func aTornTailIsSkippedAndSequencesContinue() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
            for _ in 0..<10 { journal.append(topic: "t", payload: Array("hello".utf8), receivedAtMicros: 1) }
            journal.sync()
        }
        // Damage the end of the segment as a crash in the middle of a write would.
        let segment = path + "/" + (try Journal.listSegments(in: path)).map { String(format: "%020llu.seg", $0) }[0]
        let handle = try #require(FileHandle(forUpdatingAtPath: segment))
        let size = handle.seekToEndOfFile()
        handle.truncateFile(atOffset: size - 3)
        handle.write(Data([0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
        try handle.close()

        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        #expect(journal.append(topic: "t", payload: Array("after".utf8), receivedAtMicros: 2) == 10)
        let records = journal.reader(after: 0).next(maxRecords: 100)
        #expect(records.map(\.sequence) == Array(1...10))
        #expect(String(decoding: records.last!.payload, as: UTF8.self) == "after")
    }

    @Test func aRecordLargerThanOneReadIsRead() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        let big = [UInt8](repeating: 7, count: 6 << 20)
        journal.append(topic: "t", payload: big, receivedAtMicros: 1)
        journal.append(topic: "t", payload: [1], receivedAtMicros: 1)
        let reader = journal.reader(after: 0)
        var records: [JournalRecord] = []
        for _ in 0..<5 { records += reader.next(maxRecords: 10) }
        #expect(records.count == 2)
        #expect(records.first?.payload == big)
    }

    @Test func readerWaitsForTheWriter() async throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        let waiter = Task { await journal.waitForRecords(after: 0) }
        try await Task.sleep(for: .milliseconds(50))
        journal.append(topic: "t", payload: [1], receivedAtMicros: 1)
        await waiter.value
        #expect(journal.lastSequence == 1)
    }

    @Test("a wait with a timeout returns after it, at once when a record is there, and when the readers are woken", .timeLimit(.minutes(1)))
    func timedWaits() async throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        let clock = ContinuousClock()
        let timedOut = await clock.measure { await journal.waitForRecords(after: 0, timeout: .milliseconds(100)) }
        #expect(timedOut >= .milliseconds(100) && timedOut < .seconds(5))

        let woken = Task { await journal.waitForRecords(after: 0, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        journal.wakeReaders()
        let wokenAfter = await clock.measure { await woken.value }
        #expect(wokenAfter < .seconds(5), "woken, not left to its timeout")

        journal.append(topic: "t", payload: [1], receivedAtMicros: 1)
        let present = await clock.measure { await journal.waitForRecords(after: 0, timeout: .seconds(60)) }
        #expect(present < .seconds(5))
    }

    @Test("a cancelled wait returns, with or without a timeout, cancelled before or while it waits", .timeLimit(.minutes(1)))
    func cancelledWaitsReturn() async throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        let clock = ContinuousClock()
        for timeout in [nil, Duration.seconds(60)] {
            let waiting = Task { await journal.waitForRecords(after: 0, timeout: timeout) }
            try await Task.sleep(for: .milliseconds(50))
            waiting.cancel()
            let cancelledAfter = await clock.measure { await waiting.value }
            #expect(cancelledAfter < .seconds(5), "timeout \(String(describing: timeout))")

            let alreadyCancelled = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                await journal.waitForRecords(after: 0, timeout: timeout)
            }
            let alreadyAfter = await clock.measure { await alreadyCancelled.value }
            #expect(alreadyAfter < .seconds(5), "timeout \(String(describing: timeout))")
        }
    }

    @Test func codecRoundTripsAndRejectsDamage() {
        let record = JournalRecord(sequence: 42, receivedAtMicros: -5, topic: "devices/ä/telemetry", payload: [0, 1, 2, 255])
        var buffer: [UInt8] = []
        JournalCodec.encode(record, into: &buffer)
        buffer.withUnsafeBytes { bytes in
            guard case .record(let decoded, let length) = JournalCodec.decode(bytes) else {
                Issue.record("did not decode")
                return
            }
            #expect(decoded == record)
            #expect(length == buffer.count)
            if case .incomplete = JournalCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 1)])) {} else {
                Issue.record("a short record must be incomplete")
            }
        }
        buffer[buffer.count - 1] ^= 0xFF
        buffer.withUnsafeBytes { bytes in
            if case .damaged = JournalCodec.decode(bytes) {} else { Issue.record("a flipped byte must be damage") }
        }
    }

    @Test func aWriteTornByAFullDiskLosesNothingThatFollows() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        journal.append(topic: "devices/d/telemetry", payload: Array("before".utf8), receivedAtMicros: 1)
        // The next write stores 11 bytes of its record, then the disk is full; the append retries and succeeds.
        journal.injectedFullDiskAfterBytes = 11
        journal.append(topic: "devices/d/telemetry", payload: Array("torn".utf8), receivedAtMicros: 2)
        for index in 0..<5 {
            journal.append(topic: "devices/d/telemetry", payload: Array("after\(index)".utf8), receivedAtMicros: 3)
        }
        let records = journal.reader(after: 0).next(maxRecords: 100)
        #expect(records.map { String(decoding: $0.payload, as: UTF8.self) } == ["before", "torn"] + (0..<5).map { "after\($0)" })
        #expect(records.map(\.sequence) == Array(1...7))
        // And after a restart (the scan of the newest segment finds every record too).
        let reopened = try Journal(configuration: .init(directory: path), logger: Self.logger)
        #expect(reopened.lastSequence == 7)
    }

    @Test func anOversizePayloadIsKeptAsANoteAndTheRecordsAfterItAreRead() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let journal = try Journal(configuration: .init(directory: path), logger: Self.logger)
        let huge = [UInt8](repeating: 0x5B, count: JournalCodec.maxBodySize + 1)
        journal.append(topic: "devices/d/telemetry", payload: huge, receivedAtMicros: 1)
        journal.append(topic: "devices/d/telemetry", payload: Array("next".utf8), receivedAtMicros: 2)
        let records = journal.reader(after: 0).next(maxRecords: 10)
        #expect(records.count == 2)
        #expect(records.first?.oversizedPayloadBytes == huge.count)
        #expect(records.last.map { String(decoding: $0.payload, as: UTF8.self) } == "next")
        #expect(records.last?.oversizedPayloadBytes == nil)
        let output = Normalizer().normalize(try #require(records.first), devices: [:])
        #expect(output.deadLetters.first?.reason.contains("\(huge.count) bytes") == true)
        #expect(output.rawMessage.outcome == .rejected)
    }
}
