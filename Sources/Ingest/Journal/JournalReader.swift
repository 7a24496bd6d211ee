import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Reads journal records in sequence order, following the writer. One reader per consumer; not thread-safe.
public final class JournalReader {
    private let journal: Journal
    private let logger: Logger
    /// The last sequence handed out.
    public private(set) var position: UInt64
    private var segment: UInt64?
    private var fd: Int32 = -1
    private var offset = 0
    private var buffer: [UInt8] = []
    /// Bytes the next record needs when it is larger than a normal read.
    private var needed = 0

    init(journal: Journal, after sequence: UInt64, logger: Logger) {
        self.journal = journal
        self.position = sequence
        self.logger = logger
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Returns up to `maxRecords` records (about `maxBytes` at most) after `position`; empty when caught up.
    public func next(maxRecords: Int, maxBytes: Int = 8 << 20) -> [JournalRecord] {
        var records: [JournalRecord] = []
        var bytes = 0
        while records.count < maxRecords, bytes < maxBytes {
            let view = journal.readView()
            guard position < view.lastSequence else { break }
            guard ensureSegment(view) else { break }
            let isActive = segment == view.activeFirstSequence
            let limit = isActive ? view.activeEnd : Int.max
            let (chunk, endOfFile) = readChunk(limit: limit)
            var consumed = 0
            var damaged: String?
            chunk.withUnsafeBytes { raw in
                while records.count < maxRecords, consumed < raw.count {
                    switch JournalCodec.decode(UnsafeRawBufferPointer(rebasing: raw[consumed...])) {
                    case .record(let record, let length):
                        consumed += length
                        if record.sequence > position {
                            position = record.sequence
                            records.append(record)
                            bytes += length
                        }
                    case .incomplete:
                        if consumed == 0, raw.count >= JournalCodec.headerSize {
                            needed = JournalCodec.headerSize + Int(raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian)
                        }
                        return
                    case .damaged(let reason):
                        damaged = reason
                        return
                    }
                }
            }
            offset += consumed
            if let damaged, !isActive {
                // A torn tail left by a crash: the next segment starts where the intact records stop.
                logger.warning("journal segment ends in damaged bytes; continuing with the next segment",
                               metadata: ["segment": "\(segment ?? 0)", "offset": "\(offset)", "reason": "\(damaged)"])
                moveToNextSegment(view)
            } else if consumed == 0 {
                if needed > chunk.count {
                    continue  // a record larger than one read: read again with room for it
                } else if !isActive, endOfFile {
                    moveToNextSegment(view)
                } else {
                    break  // the writer has not finished the next record yet
                }
            }
        }
        return records
    }

    /// Opens the segment that holds `position + 1`.
    private func ensureSegment(_ view: Journal.ReadView) -> Bool {
        if segment != nil { return true }
        // The last segment whose first sequence is at or before the one we want.
        let wanted = position + 1
        guard let first = view.segments.last(where: { $0 <= wanted }) ?? view.segments.first else { return false }
        return open(first)
    }

    private func open(_ first: UInt64) -> Bool {
        if fd >= 0 { close(fd) }
        fd = Glibc.open(journal.segmentPath(first), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            logger.error("cannot open journal segment", metadata: ["segment": "\(first)", "errno": "\(errno)"])
            segment = nil
            return false
        }
        segment = first
        offset = 0
        return true
    }

    private func moveToNextSegment(_ view: Journal.ReadView) {
        guard let current = segment, let next = view.segments.first(where: { $0 > current }) else { return }
        _ = open(next)
    }

    private func readChunk(limit: Int) -> ([UInt8], endOfFile: Bool) {
        let size = max(256 << 10, needed)
        needed = 0
        let available = limit == Int.max ? size : min(size, limit - offset)
        guard available > 0 else { return ([], false) }
        if buffer.count < available { buffer = [UInt8](repeating: 0, count: available) }
        let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, available, off_t(offset)) }
        guard read > 0 else { return ([], read == 0) }
        return (Array(buffer[0..<read]), read < available && limit == Int.max)
    }
}
