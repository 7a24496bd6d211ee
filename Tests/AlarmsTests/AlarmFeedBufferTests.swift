import Logging
import Postgres
import Testing

@testable import Alarms

/// A slow or stalled stream consumer cannot make the gateway buffer alarm changes without limit: past its buffer
/// the subscriber is finished (it keeps what it had, with no gap, and resumes from the table with Last-Event-ID).
@Suite struct AlarmFeedBufferTests {
    static func rows(_ ids: ClosedRange<Int64>) -> [(change: AlarmChange, alarm: Alarm)] {
        ids.map { id in
            (AlarmChange(id: id, alarmId: 1, change: .opened, actor: "device", atMicros: 0, detailsJSON: "{}"),
             Alarm(id: 1, deviceId: "d", type: "sos", kind: "care", priority: 1, state: .open, tenant: nil,
                   raisedAtMicros: 0, openedAtMicros: 0, lastTriggeredAtMicros: 0, triggerCount: 1, ackDeadlineMicros: 0,
                   escalatedAtMicros: nil, acknowledgedAtMicros: nil, acknowledgedBy: nil, resolvedAtMicros: nil,
                   resolvedBy: nil, outcome: nil, note: nil, cancelledAtMicros: nil, attributesJSON: "{}", confidentiality: 1))
        }
    }

    @Test("a subscriber that does not read is dropped after its buffer, keeping a gap-free prefix")
    func slowSubscriberIsDropped() async throws {
        let feed = AlarmFeed(pool: PostgresPool(url: "postgresql://unused", size: 1, logger: Logger(label: "test")), listener: nil,
                             logger: Logger(label: "test"), subscriberBuffer: 10)
        let (_, items) = feed.subscribe()
        let fast = feed.subscribe().items
        #expect(feed.subscriberCount == 2)
        // 25 changes arrive while neither subscriber reads.
        feed.publish(Self.rows(1...25))
        // The stalled one got its 10 in order, then its stream ended (and it left the feed).
        let received = try await Self.collect(items, within: .seconds(5))
        #expect(received == Array(1...10))
        #expect(feed.subscriberCount == 0, "both overflowed: nobody buffers for them any more")
        let other = try await Self.collect(fast, within: .seconds(5))
        #expect(other == Array(1...10))
        // A subscriber that keeps up is not affected.
        let (_, keepsUp) = feed.subscribe()
        var iterator = keepsUp.makeAsyncIterator()
        for batch in 0..<5 {
            let first = Int64(100 + batch * 8)
            feed.publish(Self.rows(first...(first + 7)))
            for expected in first...(first + 7) {
                guard case .change(let change, _) = await iterator.next() else { Issue.record("stream ended"); return }
                #expect(change.id == expected)
            }
        }
        #expect(feed.subscriberCount == 1)
    }

    /// The change ids of a stream until it ends; fails when it has not ended within `limit`.
    static func collect(_ items: AsyncStream<AlarmFeed.Item>, within limit: Duration) async throws -> [Int64] {
        try await withThrowingTaskGroup(of: [Int64]?.self) { group in
            group.addTask {
                var ids: [Int64] = []
                for await item in items { if case .change(let change, _) = item { ids.append(change.id) } }
                return ids
            }
            group.addTask { try await Task.sleep(for: limit); return nil }
            defer { group.cancelAll() }
            guard let ids = try await group.next() ?? nil else {
                throw StreamDidNotEnd()
            }
            return ids
        }
    }

    struct StreamDidNotEnd: Error {}
}
