// Bulk device import: `cip-gateway devices import FILE.csv` and `POST /iot/v1/devices/import` (text/csv).
//
// RFC 4180 CSV over UTF-8 bytes: fields separated by `,`, records by CRLF or LF (a lone CR also ends a line),
// fields may be quoted with `"` and then contain `,`, line breaks and `""` (an escaped quote). A header row is
// required. Pure: bytes in, `ImportReport` out; whether rejected rows abort the import (all-or-nothing) is the
// caller's choice.
//
// Conventions:
// - Line numbers are 1-based physical lines, the header being line 1 (when the file starts with it); a row's line
//   is the line it starts on, so quoted fields with line breaks push later rows' numbers down.
// - A leading UTF-8 byte-order mark is skipped (spreadsheet exports). Empty lines are skipped.
// - Every field is trimmed of surrounding spaces and tabs; an empty optional field means "absent".
// - Structural problems (unbalanced quotes, the limits, invalid UTF-8, a bad header) make the whole file an error
//   (`DeviceCSVError`); everything else rejects just the row, with all of its problems joined by "; ".

import Models

/// The registration fields of one device: a row of an import file or a JSON body. Valid once
/// `DeviceCSV.validate` (or `parse`) accepted them.
public struct DeviceImportRow: Sendable, Equatable, Hashable {
    public var deviceId: String
    public var serialNumber: String
    public var type: String
    public var vendor: String?
    public var model: String?
    public var firmwareVersion: String?
    public var tenant: String
    public var placement: String?
    public var careRecipientRef: String?
    public var tags: [String]

    public init(
        deviceId: String, serialNumber: String, type: String, vendor: String? = nil, model: String? = nil,
        firmwareVersion: String? = nil, tenant: String, placement: String? = nil, careRecipientRef: String? = nil,
        tags: [String] = []
    ) {
        self.deviceId = deviceId
        self.serialNumber = serialNumber
        self.type = type
        self.vendor = vendor
        self.model = model
        self.firmwareVersion = firmwareVersion
        self.tenant = tenant
        self.placement = placement
        self.careRecipientRef = careRecipientRef
        self.tags = tags
    }
}

/// An accepted row and the line it starts on.
public struct ImportedRow: Sendable, Equatable {
    public var line: Int
    public var row: DeviceImportRow

    public init(line: Int, row: DeviceImportRow) {
        self.line = line
        self.row = row
    }
}

/// A rejected row: the line it starts on and every reason, joined by "; ".
public struct ImportRejection: Error, Sendable, Equatable {
    public var line: Int
    /// The row's `device_id` as written, when there was one (helps the report reader).
    public var deviceId: String?
    public var reason: String

    public init(line: Int, deviceId: String? = nil, reason: String) {
        self.line = line
        self.deviceId = deviceId
        self.reason = reason
    }
}

extension ImportRejection {
    /// The rejection of a row whose device id or serial number is registered already (nil: both are free);
    /// the one wording of every `DeviceRepository`.
    public static func taken(_ row: ImportedRow, ids: Set<String>, serials: Set<String>) -> ImportRejection? {
        if ids.contains(row.row.deviceId) {
            return ImportRejection(line: row.line, deviceId: row.row.deviceId,
                                   reason: "device id \(row.row.deviceId) is already registered")
        }
        if serials.contains(row.row.serialNumber) {
            return ImportRejection(line: row.line, deviceId: row.row.deviceId,
                                   reason: "serial number \(row.row.serialNumber) is already registered")
        }
        return nil
    }
}

public struct ImportReport: Sendable, Equatable {
    public var accepted: [ImportedRow]
    public var rejected: [ImportRejection]

    public init(accepted: [ImportedRow] = [], rejected: [ImportRejection] = []) {
        self.accepted = accepted
        self.rejected = rejected
    }

    /// Data rows seen (accepted + rejected).
    public var rowCount: Int { accepted.count + rejected.count }
    /// No row was rejected: an all-or-nothing import may proceed.
    public var isClean: Bool { rejected.isEmpty }
}

/// The import file's columns; raw values are the header names.
public enum DeviceCSVColumn: String, Sendable, CaseIterable {
    case deviceId = "device_id"
    case serialNumber = "serial_number"
    case type
    case vendor
    case model
    case firmwareVersion = "firmware_version"
    case tenant
    case placement
    case careRecipientRef = "care_recipient_ref"
    case tags

    public static let required: [DeviceCSVColumn] = [.deviceId, .serialNumber, .type, .tenant]
}

/// Whole-file errors: nothing of the file is imported.
public enum DeviceCSVError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingHeader
    case emptyColumnName(position: Int)
    case unknownColumns([String])
    case duplicateColumn(String)
    case missingRequiredColumns([String])
    case tooManyRows(limit: Int)
    case fieldTooLong(line: Int, limit: Int)
    case lineTooLong(line: Int, limit: Int)
    case unterminatedQuote(line: Int)
    case unexpectedQuote(line: Int)
    case invalidUTF8(line: Int)

    public var description: String {
        switch self {
        case .missingHeader:
            "the file is empty; a header row is required (columns: \(DeviceCSV.columnList))"
        case .emptyColumnName(let position):
            "header column \(position) has no name"
        case .unknownColumns(let names):
            "unknown column\(names.count == 1 ? "" : "s") \(names.map { "'\($0)'" }.joined(separator: ", ")) "
                + "in the header; known columns: \(DeviceCSV.columnList)"
        case .duplicateColumn(let name):
            "column '\(name)' appears more than once in the header"
        case .missingRequiredColumns(let names):
            "required column\(names.count == 1 ? "" : "s") missing from the header: \(names.joined(separator: ", "))"
        case .tooManyRows(let limit):
            "the file has more than \(limit) rows; split it"
        case .fieldTooLong(let line, let limit):
            "line \(line): a field is longer than \(limit) bytes"
        case .lineTooLong(let line, let limit):
            "line \(line) is longer than \(limit) bytes"
        case .unterminatedQuote(let line):
            "line \(line): a quoted field is not closed before the end of the file"
        case .unexpectedQuote(let line):
            "line \(line): a quote appears inside an unquoted field or after a closing quote "
                + "(quote the whole field and double the quote: \"\"\"\")"
        case .invalidUTF8(let line):
            "line \(line): the text is not valid UTF-8"
        }
    }
}

public struct DeviceCSV: Sendable {
    public struct Limits: Sendable, Equatable {
        public var maxRows: Int
        public var maxFieldBytes: Int
        public var maxLineBytes: Int

        public init(maxRows: Int = 100_000, maxFieldBytes: Int = 1024, maxLineBytes: Int = 8192) {
            self.maxRows = maxRows
            self.maxFieldBytes = maxFieldBytes
            self.maxLineBytes = maxLineBytes
        }

        public static let `default` = Limits()
    }

    public static let personalIdentityNumberReason =
        "care_recipient_ref looks like a personal identity number; use the pseudonymous reference"

    static let maxDeviceIdLength = DeviceID.maxLength
    static let maxSerialLength = 64
    static let maxTenantLength = 128
    static let maxTagLength = 64
    static let columnList = DeviceCSVColumn.allCases.map(\.rawValue).joined(separator: ", ")

    public static func parse(
        _ text: String, knownTypes: Set<String>, limits: Limits = .default
    ) throws(DeviceCSVError) -> ImportReport {
        try parse(Array(text.utf8), knownTypes: knownTypes, limits: limits)
    }

    public static func parse(
        _ bytes: [UInt8], knownTypes: Set<String>, limits: Limits = .default
    ) throws(DeviceCSVError) -> ImportReport {
        let result: Result<ImportReport, DeviceCSVError> = bytes.withUnsafeBufferPointer { buffer in
            do throws(DeviceCSVError) {
                return .success(try parse(buffer: buffer, knownTypes: knownTypes, limits: limits))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func parse(
        buffer: UnsafeBufferPointer<UInt8>, knownTypes: Set<String>, limits: Limits
    ) throws(DeviceCSVError) -> ImportReport {
        var reader = RecordReader(buffer: buffer, limits: limits)

        guard let header = try reader.next() else { throw .missingHeader }
        let columns = try columnsOf(header: header.fields)

        var validator = RowValidator(columns: columns, knownTypes: knownTypes)
        var report = ImportReport()
        report.accepted.reserveCapacity(min(buffer.count / 40, limits.maxRows))
        var rows = 0
        while let record = try reader.next() {
            rows += 1
            if rows > limits.maxRows { throw .tooManyRows(limit: limits.maxRows) }
            switch validator.validate(record.fields, line: record.line) {
            case .accepted(let row): report.accepted.append(ImportedRow(line: record.line, row: row))
            case .rejected(let rejection): report.rejected.append(rejection)
            }
        }
        return report
    }

    /// Maps header position → column, checking the header.
    private static func columnsOf(header: [String]) throws(DeviceCSVError) -> [DeviceCSVColumn] {
        var columns: [DeviceCSVColumn] = []
        var unknown: [String] = []
        var seen = Set<DeviceCSVColumn>()
        for (index, raw) in header.enumerated() {
            let name = raw.lowercased()
            if name.isEmpty { throw .emptyColumnName(position: index + 1) }
            guard let column = DeviceCSVColumn(rawValue: name) else {
                unknown.append(raw)
                continue
            }
            if !seen.insert(column).inserted { throw .duplicateColumn(name) }
            columns.append(column)
        }
        if !unknown.isEmpty { throw .unknownColumns(unknown) }
        let missing = DeviceCSVColumn.required.filter { !seen.contains($0) }
        if !missing.isEmpty { throw .missingRequiredColumns(missing.map(\.rawValue)) }
        return columns
    }
}

// MARK: - Reading records

/// Splits the buffer into records of trimmed, UTF-8-validated fields, tracking physical line numbers.
private struct RecordReader {
    let buffer: UnsafeBufferPointer<UInt8>
    let limits: DeviceCSV.Limits
    var index = 0
    /// Physical line the reader is on.
    var line = 1
    /// Byte offset where that physical line starts.
    var lineStart = 0
    var scratch: [UInt8] = []

    init(buffer: UnsafeBufferPointer<UInt8>, limits: DeviceCSV.Limits) {
        self.buffer = buffer
        self.limits = limits
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
            index = 3
            lineStart = 3
        }
        scratch.reserveCapacity(limits.maxFieldBytes + 1)
    }

    private static let quote = UInt8(ascii: "\"")
    private static let comma = UInt8(ascii: ",")
    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    /// The next non-empty record, or nil at the end of the buffer.
    mutating func next() throws(DeviceCSVError) -> (line: Int, fields: [String])? {
        while index < buffer.count {
            // Skip empty lines.
            if buffer[index] == Self.cr || buffer[index] == Self.lf {
                consumeLineBreak()
                continue
            }
            let recordLine = line
            var fields: [String] = []
            while true {
                fields.append(try field(recordLine: recordLine))
                if index >= buffer.count { break }
                let byte = buffer[index]
                if byte == Self.comma {
                    index += 1
                    continue
                }
                // A line break ends the record.
                try checkLineLength()
                consumeLineBreak()
                break
            }
            try checkLineLength()
            return (recordLine, fields)
        }
        return nil
    }

    /// Consumes CRLF, LF or a lone CR at `index` and starts a new physical line.
    private mutating func consumeLineBreak() {
        if buffer[index] == Self.cr, index + 1 < buffer.count, buffer[index + 1] == Self.lf {
            index += 2
        } else {
            index += 1
        }
        line += 1
        lineStart = index
    }

    private func checkLineLength() throws(DeviceCSVError) {
        // Length of the current physical line up to `index`, without its terminator.
        var end = index
        if end > buffer.count { end = buffer.count }
        if end - lineStart > limits.maxLineBytes { throw .lineTooLong(line: line, limit: limits.maxLineBytes) }
    }

    /// Reads one field starting at `index`; leaves `index` on the separator, line break or end.
    private mutating func field(recordLine: Int) throws(DeviceCSVError) -> String {
        let start = index
        // Tolerate blanks before an opening quote (`a, "b"`).
        var probe = index
        while probe < buffer.count, buffer[probe] == 0x20 || buffer[probe] == 0x09 { probe += 1 }
        if probe < buffer.count, buffer[probe] == Self.quote {
            index = probe
            return try quotedField(recordLine: recordLine)
        }
        while index < buffer.count {
            let byte = buffer[index]
            if byte == Self.comma || byte == Self.cr || byte == Self.lf { break }
            if byte == Self.quote { throw .unexpectedQuote(line: line) }
            index += 1
            if index - lineStart > limits.maxLineBytes { throw .lineTooLong(line: line, limit: limits.maxLineBytes) }
        }
        if index - start > limits.maxFieldBytes { throw .fieldTooLong(line: line, limit: limits.maxFieldBytes) }
        return try makeString(UnsafeBufferPointer(rebasing: buffer[start..<index]), line: line)
    }

    private mutating func quotedField(recordLine: Int) throws(DeviceCSVError) -> String {
        let fieldLine = line
        index += 1  // opening quote
        scratch.removeAll(keepingCapacity: true)
        while true {
            guard index < buffer.count else { throw .unterminatedQuote(line: fieldLine) }
            let byte = buffer[index]
            if byte == Self.quote {
                if index + 1 < buffer.count, buffer[index + 1] == Self.quote {
                    scratch.append(Self.quote)
                    index += 2
                } else {
                    index += 1  // closing quote
                    break
                }
            } else if byte == Self.cr || byte == Self.lf {
                try checkLineLength()
                if byte == Self.cr, index + 1 < buffer.count, buffer[index + 1] == Self.lf {
                    scratch.append(Self.cr)
                    index += 1
                }
                scratch.append(buffer[index])
                index += 1
                line += 1
                lineStart = index
            } else {
                scratch.append(byte)
                index += 1
            }
            if scratch.count > limits.maxFieldBytes {
                throw .fieldTooLong(line: fieldLine, limit: limits.maxFieldBytes)
            }
            if index - lineStart > limits.maxLineBytes { throw .lineTooLong(line: line, limit: limits.maxLineBytes) }
        }
        // Tolerate blanks after the closing quote.
        while index < buffer.count, buffer[index] == 0x20 || buffer[index] == 0x09 { index += 1 }
        if index < buffer.count {
            let byte = buffer[index]
            if byte != Self.comma && byte != Self.cr && byte != Self.lf { throw .unexpectedQuote(line: line) }
        }
        return try scratch.withUnsafeBufferPointer { bytes throws(DeviceCSVError) in
            try makeString(bytes, line: fieldLine)
        }
    }

    /// Trims spaces and tabs and validates UTF-8.
    private func makeString(_ bytes: UnsafeBufferPointer<UInt8>, line: Int) throws(DeviceCSVError) -> String {
        var lower = 0
        var upper = bytes.count
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 { upper -= 1 }
        if lower == upper { return "" }
        let slice = UnsafeBufferPointer(rebasing: bytes[lower..<upper])
        // Pure ASCII is by far the common case and needs no validation.
        var ascii = true
        for byte in slice where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii { return String(decoding: slice, as: UTF8.self) }
        guard let string = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(line: line) }
        return string
    }
}

// MARK: - Validating rows

extension DeviceCSV {
    /// Checks one registration by the same rules as an imported row (for `POST /iot/v1/devices`); the error is
    /// every problem found, joined by "; ". Tags are `;`-separated, as in the file.
    public static func validate(_ values: [DeviceCSVColumn: String], knownTypes: Set<String>) -> Result<DeviceImportRow, ImportRejection> {
        let columns = DeviceCSVColumn.allCases
        var validator = RowValidator(columns: columns, knownTypes: knownTypes)
        switch validator.validate(columns.map { values[$0] ?? "" }, line: 1) {
        case .accepted(let row): return .success(row)
        case .rejected(let rejection): return .failure(rejection)
        }
    }
}

private enum RowOutcome {
    case accepted(DeviceImportRow)
    case rejected(ImportRejection)
}

private struct RowValidator {
    let columns: [DeviceCSVColumn]
    let knownTypes: Set<String>
    let knownTypesList: String
    var deviceIdLines: [String: Int] = [:]
    var serialLines: [String: Int] = [:]

    init(columns: [DeviceCSVColumn], knownTypes: Set<String>) {
        self.columns = columns
        self.knownTypes = knownTypes
        self.knownTypesList = knownTypes.isEmpty ? "(none configured)" : knownTypes.sorted().joined(separator: ", ")
    }

    mutating func validate(_ fields: [String], line: Int) -> RowOutcome {
        guard fields.count == columns.count else {
            let deviceId = columns.firstIndex(of: .deviceId).flatMap { $0 < fields.count ? fields[$0] : nil }
            return .rejected(ImportRejection(
                line: line, deviceId: deviceId.flatMap { $0.isEmpty ? nil : $0 },
                reason: "expected \(columns.count) fields as in the header, found \(fields.count)"))
        }
        var values = [String](repeating: "", count: DeviceCSVColumn.allCases.count)
        for (position, column) in columns.enumerated() {
            values[column.index] = fields[position]
        }
        func value(_ column: DeviceCSVColumn) -> String { values[column.index] }
        func optional(_ column: DeviceCSVColumn) -> String? {
            let text = values[column.index]
            return text.isEmpty ? nil : text
        }

        var reasons: [String] = []
        let deviceId = value(.deviceId)
        let serial = value(.serialNumber)
        let type = value(.type)
        let tenant = value(.tenant)

        if let problem = Self.deviceIdProblem(deviceId) {
            reasons.append(problem)
        } else if let first = deviceIdLines[deviceId] {
            reasons.append("duplicate device_id '\(deviceId)' (first on line \(first))")
        } else {
            deviceIdLines[deviceId] = line
        }

        if let problem = Self.serialProblem(serial) {
            reasons.append(problem)
        } else if let first = serialLines[serial] {
            reasons.append("duplicate serial_number '\(serial)' (first on line \(first))")
        } else {
            serialLines[serial] = line
        }

        if type.isEmpty {
            reasons.append("type is required")
        } else if !knownTypes.contains(type) {
            reasons.append("unknown type '\(Self.printable(type))'; known types: \(knownTypesList)")
        }

        if tenant.isEmpty {
            reasons.append("tenant is required")
        } else if tenant.utf8.count > DeviceCSV.maxTenantLength {
            reasons.append("tenant is longer than \(DeviceCSV.maxTenantLength) bytes")
        } else if Self.hasControlCharacter(tenant) {
            reasons.append("tenant contains a control character")
        }

        for column in [DeviceCSVColumn.vendor, .model, .firmwareVersion] where Self.hasControlCharacter(value(column)) {
            reasons.append("\(column.rawValue) contains a control character")
        }
        if Self.hasControlCharacter(value(.placement), allowingLineBreaks: true) {
            reasons.append("placement contains a control character")
        }

        let reference = value(.careRecipientRef)
        if !reference.isEmpty {
            if Self.hasControlCharacter(reference) {
                reasons.append("care_recipient_ref contains a control character")
            } else if PersonalIdentityNumber.appears(in: reference) {
                reasons.append(DeviceCSV.personalIdentityNumberReason)
            }
        }

        var tags: [String] = []
        let rawTags = value(.tags)
        if !rawTags.isEmpty {
            var seen = Set<String>()
            for part in rawTags.split(separator: ";", omittingEmptySubsequences: true) {
                let tag = part.trimmingSpaces()
                if tag.isEmpty { continue }
                if tag.utf8.count > DeviceCSV.maxTagLength {
                    reasons.append("tag '\(tag.prefix(20))…' is longer than \(DeviceCSV.maxTagLength) bytes")
                } else if Self.hasControlCharacter(tag) {
                    reasons.append("tag '\(Self.printable(tag))' contains a control character")
                } else if seen.insert(tag).inserted {
                    tags.append(tag)
                }
            }
        }

        if !reasons.isEmpty {
            return .rejected(ImportRejection(
                line: line, deviceId: deviceId.isEmpty ? nil : deviceId, reason: reasons.joined(separator: "; ")))
        }
        return .accepted(DeviceImportRow(
            deviceId: deviceId, serialNumber: serial, type: type,
            vendor: optional(.vendor), model: optional(.model), firmwareVersion: optional(.firmwareVersion),
            tenant: tenant, placement: optional(.placement), careRecipientRef: optional(.careRecipientRef),
            tags: tags))
    }

    /// Device ids become MQTT topic levels (`devices/<id>/...`) and broker usernames: 1–128 of A–Z a–z 0–9 - _ . :,
    /// and never a reserved name (`ReservedNames`: the fixed broker accounts and the `cip-` prefix).
    static func deviceIdProblem(_ id: String) -> String? {
        if id.isEmpty { return "device_id is required" }
        let count = id.utf8.count
        if count > DeviceCSV.maxDeviceIdLength {
            return "device_id is \(count) bytes long; at most \(DeviceCSV.maxDeviceIdLength) allowed"
        }
        if let scalar = DeviceID.firstDisallowed(in: id) {
            return "device_id '\(printable(id))' contains \(describe(scalar)); allowed are \(DeviceID.allowedCharacters)"
        }
        return ReservedNames.problem(deviceId: id)
    }

    /// Serials are printable ASCII, 1–64. They are also a topic level in `provisioning/<serial>/claim`, so the MQTT
    /// separators and wildcards '/', '+', '#' cannot be allowed.
    static func serialProblem(_ serial: String) -> String? {
        if serial.isEmpty { return "serial_number is required" }
        let count = serial.utf8.count
        if count > DeviceCSV.maxSerialLength {
            return "serial_number is \(count) bytes long; at most \(DeviceCSV.maxSerialLength) allowed"
        }
        for scalar in serial.unicodeScalars {
            if scalar.value < 0x20 || scalar.value > 0x7E {
                return "serial_number '\(printable(serial))' contains \(describe(scalar)); only printable ASCII allowed"
            }
            if scalar == "/" || scalar == "+" || scalar == "#" {
                return "serial_number '\(serial)' contains '\(scalar)', which cannot appear in an MQTT topic level"
            }
        }
        return nil
    }

    static func hasControlCharacter(_ text: String, allowingLineBreaks: Bool = false) -> Bool {
        for byte in text.utf8 where byte < 0x20 || byte == 0x7F {
            if allowingLineBreaks && (byte == 0x0A || byte == 0x0D || byte == 0x09) { continue }
            return true
        }
        return false
    }

    static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar == " " { return "a space" }
        if scalar.value < 0x20 || scalar.value == 0x7F || !scalar.isASCII {
            return "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
        }
        return "'\(scalar)'"
    }

    /// The value with control characters escaped, for use inside a reason.
    static func printable(_ text: String) -> String {
        guard hasControlCharacter(text) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { out += scalar.escaped(asASCII: true) } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}

extension DeviceCSVColumn {
    /// Position in `allCases`, used as a dense array index.
    fileprivate var index: Int {
        switch self {
        case .deviceId: 0
        case .serialNumber: 1
        case .type: 2
        case .vendor: 3
        case .model: 4
        case .firmwareVersion: 5
        case .tenant: 6
        case .placement: 7
        case .careRecipientRef: 8
        case .tags: 9
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
