#if canImport(FoundationXML)
import FoundationXML
#endif
import Foundation
import Models

/// Parser for SCAIP (SS 91100) `mrq` message requests carried as MQTT payloads, and writer
/// of the receiver's `mrs` answer.
///
/// `parse` is a pure function: every call builds its own `XMLParser` and delegate, so it is
/// safe to call concurrently from any number of threads.
///
/// Hardening, in this order, before any XML parsing:
/// 1. the payload is non-empty and at most `maxBytes` bytes;
/// 2. it holds no NUL byte and, after an optional UTF-8 byte order mark and whitespace,
///    starts with "<" (this excludes UTF-16/32 and EBCDIC, whose autodetection would make
///    the byte scans below meaningless);
/// 3. no markup declaration: any `<!` that does not open a comment or a CDATA section is
///    rejected, so `<!DOCTYPE` and `<!ENTITY` (XXE, "billion laughs") never reach libxml2;
///    no processing instruction: any `<?` other than the XML declaration at the very start
///    is rejected, because FoundationXML on Linux crashes (NULL dereference) on a processing
///    instruction without data such as `<?pi?>`. Both scans are deliberately blind to
///    context, so a `<!DOCTYPE` or `<?` inside a comment or CDATA section is rejected too;
/// 4. a declared encoding must be UTF-8, US-ASCII or ISO-8859-1 (all ASCII supersets, so
///    the scans above saw the real markup); UTF-8 payloads must be valid UTF-8.
/// During parsing, element nesting deeper than `maxDepth` aborts the parse, and external
/// entities are never resolved.
///
/// Document rules: the root must be `mrq`; unknown elements (and anything inside them)
/// are ignored for forward compatibility; a known field element that is repeated, or
/// that contains a child element, is an error; attributes and comments are ignored; field
/// text (character data and CDATA) is trimmed, and an optional field that is absent or
/// empty is `nil`.
public enum SCAIPParser {
    /// Largest accepted payload, in bytes.
    public static let maxBytes = 16 * 1024
    /// Deepest accepted element nesting; the root `mrq` is depth 1, its fields depth 2. Generous, because an
    /// unknown extension (ignored) must not cost an alarm; still far below libxml2's own limit, and the
    /// payload's size bounds the work anyway.
    public static let maxDepth = 64
    /// Longest accepted field value, in Unicode scalars (after trimming).
    public static let maxFieldLength = 256

    /// Parses and validates one SCAIP `mrq` document.
    ///
    /// A document that is not well-formed (an undefined entity or a control character in a text, a Latin-1 byte
    /// without an encoding declaration) is still read when its `ref`, `cid` and `mty` can be found as plain
    /// elements (`salvage`): an alarm must not be lost to a malformed optional text. The problem is then the
    /// message's first issue.
    public static func parse(_ bytes: [UInt8]) throws(SCAIPError) -> SCAIPMessage {
        // Whitespace before the XML declaration (a stray newline) is not worth refusing a message for.
        let bytes = withoutLeadingSpace(bytes)
        let fields: SCAIPFields
        do throws(SCAIPError) {
            try SCAIPPayloadScreen.check(bytes)
            fields = try SCAIPXMLReader.readFields(bytes)
        } catch {
            // Not well-formed (but not refused for safety: size, NUL, DTD, depth): read what is plainly there.
            guard isSyntaxError(error), let message = salvage(bytes, because: error) else { throw error }
            return message
        }
        return try validate(fields.values, issues: fields.issues)
    }

    /// Errors of well-formedness (libxml2's syntax errors, text that is not UTF-8), as opposed to refusals for
    /// safety or structure (size, NUL, DTDs, depth, another root), which are never salvaged.
    static func isSyntaxError(_ error: SCAIPError) -> Bool {
        error.field == nil && (error.reason.hasPrefix(xmlErrorPrefix) || error.reason.hasPrefix(notUTF8Prefix))
    }
    static let xmlErrorPrefix = "XML error at line"
    static let notUTF8Prefix = "payload is not valid UTF-8"

    /// The payload without whitespace between an optional byte order mark and the first `<`.
    static func withoutLeadingSpace(_ bytes: [UInt8]) -> [UInt8] {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let start = bytes.starts(with: bom) ? 3 : 0
        var first = start
        while first < bytes.count, scaipIsXMLSpace(bytes[first]) { first += 1 }
        guard first > start, first < bytes.count, bytes[first] == UInt8(ascii: "<") else { return bytes }
        return Array(bytes[..<start]) + Array(bytes[first...])
    }

    /// The fields a message cannot do without, and the codes that choose its event, read as plain
    /// `<name>value</name>` runs of letters and digits from a document that is not well-formed XML. Nil unless
    /// `ref`, `cid` and a known `mty` are all found, each once.
    static func salvage(_ bytes: [UInt8], because error: SCAIPError) -> SCAIPMessage? {
        guard bytes.count <= maxBytes, bytes.firstRange(of: Array("<mrq".utf8)) != nil else { return nil }
        func field(_ name: String) -> String? {
            let open = Array("<\(name)>".utf8), close = Array("</\(name)>".utf8)
            guard let start = bytes.firstRange(of: open),
                  bytes[start.upperBound...].firstRange(of: open) == nil,  // repeated: not plain
                  let end = bytes[start.upperBound...].firstRange(of: close) else { return nil }
            let value = bytes[start.upperBound..<end.lowerBound].filter { !scaipIsXMLSpace($0) }
            guard !value.isEmpty, value.count <= 64,
                  value.allSatisfy({ scaipIsDigit($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D })
            else { return nil }
            return String(decoding: value, as: UTF8.self)
        }
        guard let reference = field("ref"), let controller = field("cid"), let typeText = field("mty"),
              let messageType = SCAIPMessage.MessageType(rawValue: typeText.uppercased()) else { return nil }
        let code = { (name: String) in field(name).flatMap { $0.utf8.count == 4 && $0.utf8.allSatisfy(scaipIsDigit) ? $0 : nil } }
        return SCAIPMessage(
            reference: reference, controllerID: controller, deviceType: code("dty"), messageType: messageType,
            statusCode: code("stc"),
            issues: [SCAIPError(reason: "the document is not well-formed (\(error.reason)); only ref, cid, mty, dty and stc were read")])
    }

    /// The receiver's answer `mrs` (ref, snu 0 = OK) as XML bytes.
    ///
    /// A failed request is answered with `snu` 1. The reference is XML-escaped, and characters
    /// XML 1.0 cannot carry (C0 controls other than tab, LF and CR, U+FFFE, U+FFFF) are
    /// replaced with U+FFFD, so the answer is always well-formed.
    public static func response(reference: String, ok: Bool) -> [UInt8] {
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"#
        xml += "<mrs><ref>"
        xml += scaipXMLEscaped(reference)
        xml += "</ref><snu>"
        xml += ok ? "0" : "1"
        xml += "</snu></mrs>"
        return Array(xml.utf8)
    }

    // MARK: - Validation

    /// The field elements of `mrq`, in the order they are validated.
    static let fieldNames: [String] = [
        "ref", "ver", "cid", "dty", "did", "dco", "dte", "mty",
        "stc", "stt", "pri", "cha", "crd", "lco", "lte", "lge",
    ]
    static let knownFields: Set<String> = Set(fieldNames)
    /// The fields a message cannot do without; a problem with one of these rejects the message.
    static let requiredFields: Set<String> = ["ref", "cid", "mty"]
    /// The children of a structured `lge`: `geo` ("lat,lon[,accuracy]"), `tim` (time of the fix), `gga` (NMEA).
    static let positionParts: Set<String> = ["geo", "tim", "gga"]

    /// Turns the trimmed texts of the field elements into a message. A problem with a required field (`ref`,
    /// `cid`, `mty`) rejects the message, the first in `fieldNames` order being reported; a problem with an
    /// optional field leaves that field nil and is listed in the message's `issues`, so an alarm whose position
    /// or status text is unreadable is still an alarm.
    static func validate(_ fields: [String: String], issues fieldIssues: [String: String] = [:]) throws(SCAIPError) -> SCAIPMessage {
        for name in fieldNames where requiredFields.contains(name) {
            if let reason = fieldIssues[name] { throw SCAIPError(field: name, reason: reason) }
        }
        var issues: [SCAIPError] = fieldNames.flatMap { name in
            fieldIssues.filter { $0.key == name || $0.key.hasPrefix("\(name)/") }
                .sorted { $0.key < $1.key }
                .map { SCAIPError(field: $0.key, reason: $0.value) }
        }
        /// An optional field's check: a failure is noted and the field is left out.
        func lenient<T>(_ check: () throws(SCAIPError) -> T?) -> T? {
            do { return try check() } catch {
                issues.append(error)
                return nil
            }
        }
        func optional(_ name: String) throws(SCAIPError) -> String? {
            guard let value = fields[name], !value.isEmpty else { return nil }
            let length = value.unicodeScalars.count
            if length > maxFieldLength {
                throw SCAIPError(field: name, reason: "value is \(length) characters long, at most \(maxFieldLength) allowed")
            }
            return value
        }
        func required(_ name: String) throws(SCAIPError) -> String {
            guard fields[name] != nil else {
                throw SCAIPError(field: name, reason: "required element is missing")
            }
            guard let value = try optional(name) else {
                throw SCAIPError(field: name, reason: "required element is empty")
            }
            return value
        }
        func fourDigits(_ name: String, _ what: String) throws(SCAIPError) -> String? {
            guard let value = try optional(name) else { return nil }
            guard value.utf8.count == 4, value.utf8.allSatisfy(scaipIsDigit) else {
                throw SCAIPError(field: name, reason: "\(what) \(scaipQuoted(value)) is not exactly 4 digits")
            }
            return value
        }

        let reference = try required("ref")
        let version = lenient { () throws(SCAIPError) in try optional("ver") }
        let controllerID = try required("cid")
        let deviceType = lenient { () throws(SCAIPError) in try fourDigits("dty", "device type") }
        let deviceID = lenient { () throws(SCAIPError) in try optional("did") }
        let component = lenient { () throws(SCAIPError) in try optional("dco") }
        let deviceText = lenient { () throws(SCAIPError) in try optional("dte") }
        let messageTypeText = try required("mty")
        guard let messageType = SCAIPMessage.MessageType(rawValue: messageTypeText.uppercased()) else {
            throw SCAIPError(field: "mty", reason: "unknown message type \(scaipQuoted(messageTypeText)) (expected ME, RE, IN or PI)")
        }
        if messageType.rawValue != messageTypeText {
            // An alarm in lower case is still an alarm.
            issues.append(SCAIPError(field: "mty", reason: "message type \(scaipQuoted(messageTypeText)) read as \(messageType.rawValue)"))
        }
        let statusCode = lenient { () throws(SCAIPError) in try fourDigits("stc", "status code") }
        let statusText = lenient { () throws(SCAIPError) in try optional("stt") }
        let priority: Int? = lenient { () throws(SCAIPError) -> Int? in
            guard let text = try optional("pri") else { return nil }
            guard let value = Int(text) else {
                throw SCAIPError(field: "pri", reason: "priority \(scaipQuoted(text)) is not an integer")
            }
            guard (1...9).contains(value) else {
                throw SCAIPError(field: "pri", reason: "priority \(value) is outside 1...9")
            }
            return value
        }
        let callHandling = lenient { () throws(SCAIPError) in try optional("cha") }
        let callerAddress = lenient { () throws(SCAIPError) in try optional("crd") }
        let locationCode = lenient { () throws(SCAIPError) in try optional("lco") }
        let locationText = lenient { () throws(SCAIPError) in try optional("lte") }
        var position: GeoPosition?
        if let text = lenient({ () throws(SCAIPError) in try optional("lge") }) {
            position = lenient { () throws(SCAIPError) in try parsePosition(text) }
        } else if let geo = lenient({ () throws(SCAIPError) in try optional("lge/geo") }) {
            // The structured form SCAIP peers send: <lge><geo>lat,lon</geo><tim>...</tim><gga>...</gga></lge>.
            position = lenient { () throws(SCAIPError) in
                do throws(SCAIPError) { return try parsePosition(geo) } catch { throw SCAIPError(field: "lge/geo", reason: error.reason) }
            }
        } else if let gga = lenient({ () throws(SCAIPError) in try optional("lge/gga") }) {
            position = lenient { () throws(SCAIPError) in try parseGGA(gga) }
        }
        if position != nil, let tim = lenient({ () throws(SCAIPError) in try optional("lge/tim") }) {
            switch RFC3339.parse(tim) {
            case .success(let time): position?.time = time.secondsValue
            case .failure(let problem):
                issues.append(SCAIPError(field: "lge/tim", reason: "time of the fix \(scaipQuoted(tim)) is not an RFC 3339 date-time: \(problem)"))
            }
        }

        return SCAIPMessage(
            reference: reference, version: version, controllerID: controllerID, deviceType: deviceType,
            deviceID: deviceID, component: component, deviceText: deviceText, messageType: messageType,
            statusCode: statusCode, statusText: statusText, priority: priority, callHandling: callHandling,
            callerAddress: callerAddress, locationCode: locationCode, locationText: locationText,
            position: position, issues: issues
        )
    }

    /// A position from an NMEA GGA sentence (`$GPGGA,hhmmss,ddmm.mmmm,N,dddmm.mmmm,E,fix,...`): degrees and
    /// decimal minutes with a hemisphere; a fix quality of 0 means there is no position.
    static func parseGGA(_ sentence: String) throws(SCAIPError) -> GeoPosition {
        let fail = { (reason: String) in SCAIPError(field: "lge/gga", reason: reason) }
        // The checksum after "*" is not needed; "*" alone leaves an empty sentence, not a crash.
        let body = sentence.split(separator: "*", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let parts = body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 7, parts[0].hasSuffix("GGA") else {
            throw fail("not an NMEA GGA sentence: \(scaipQuoted(sentence))")
        }
        guard parts[6] != "0", !parts[6].isEmpty else { throw fail("GGA reports no fix (quality 0)") }
        func coordinate(_ text: String, _ hemisphere: String, degreeDigits: Int, positive: String, negative: String,
                        limit: Double) throws(SCAIPError) -> Double {
            guard text.utf8.count > degreeDigits, isPlainDecimal(text), !text.hasPrefix("-"), !text.hasPrefix("+"),
                  let degrees = Double(text.prefix(degreeDigits)), let minutes = Double(text.dropFirst(degreeDigits)),
                  minutes < 60 else {
                throw fail("coordinate \(scaipQuoted(text)) is not ddmm.mmmm")
            }
            let value = degrees + minutes / 60
            guard value <= limit else { throw fail("coordinate \(scaipQuoted(text)) is outside ±\(Int(limit))") }
            switch hemisphere {
            case positive: return value
            case negative: return -value
            default: throw fail("hemisphere \(scaipQuoted(hemisphere)) is not \(positive) or \(negative)")
            }
        }
        let latitude = try coordinate(parts[2], parts[3], degreeDigits: 2, positive: "N", negative: "S", limit: 90)
        let longitude = try coordinate(parts[4], parts[5], degreeDigits: 3, positive: "E", negative: "W", limit: 180)
        return GeoPosition(latitude: latitude, longitude: longitude)
    }

    /// `lge`: "latitude,longitude" or "latitude,longitude,accuracy" in plain decimal
    /// notation (no exponent, hex, inf or nan); spaces around the commas are allowed.
    static func parsePosition(_ text: String) throws(SCAIPError) -> GeoPosition {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { scaipTrimmed(String($0)) }
        guard parts.count == 2 || parts.count == 3 else {
            throw SCAIPError(
                field: "lge",
                reason: "expected \"latitude,longitude\" or \"latitude,longitude,accuracy\" in decimal degrees, got \(scaipQuoted(text))"
            )
        }
        func number(_ token: String, _ what: String) throws(SCAIPError) -> Double {
            guard isPlainDecimal(token), let value = Double(token), value.isFinite else {
                throw SCAIPError(field: "lge", reason: "\(what) \(scaipQuoted(token)) is not a decimal number")
            }
            return value
        }
        let latitude = try number(parts[0], "latitude")
        guard (-90.0...90.0).contains(latitude) else {
            throw SCAIPError(field: "lge", reason: "latitude \(parts[0]) is outside -90...90")
        }
        let longitude = try number(parts[1], "longitude")
        guard (-180.0...180.0).contains(longitude) else {
            throw SCAIPError(field: "lge", reason: "longitude \(parts[1]) is outside -180...180")
        }
        var accuracy: Double?
        if parts.count == 3 {
            let value = try number(parts[2], "accuracy")
            guard value >= 0 else {
                throw SCAIPError(field: "lge", reason: "accuracy \(parts[2]) must not be negative")
            }
            accuracy = value
        }
        return GeoPosition(latitude: latitude, longitude: longitude, accuracyMeters: accuracy)
    }

    /// `[+-]?(digits[.digits*] | .digits)`
    private static func isPlainDecimal(_ token: String) -> Bool {
        var bytes = Substring(token).utf8[...]
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            bytes = bytes.dropFirst()
        }
        var digits = 0
        var dots = 0
        for byte in bytes {
            if scaipIsDigit(byte) {
                digits += 1
            } else if byte == UInt8(ascii: ".") {
                dots += 1
            } else {
                return false
            }
        }
        return digits > 0 && dots <= 1
    }
}

// MARK: - Payload screen (before XML parsing)

enum SCAIPPayloadScreen {
    static func check(_ bytes: [UInt8]) throws(SCAIPError) {
        guard !bytes.isEmpty else {
            throw SCAIPError(reason: "payload is empty")
        }
        guard bytes.count <= SCAIPParser.maxBytes else {
            throw SCAIPError(reason: "payload is \(bytes.count) bytes, at most \(SCAIPParser.maxBytes) allowed")
        }
        if let offset = bytes.firstIndex(of: 0) {
            throw SCAIPError(reason: "payload contains a NUL byte at offset \(offset) (only UTF-8, US-ASCII or ISO-8859-1 XML is accepted)")
        }
        let bodyStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0  // after a UTF-8 byte order mark
        var first = bodyStart
        while first < bytes.count, scaipIsXMLSpace(bytes[first]) {
            first += 1
        }
        guard first < bytes.count, bytes[first] == UInt8(ascii: "<") else {
            throw SCAIPError(reason: "not XML: the payload does not start with \"<\"")
        }
        let declaration = bytes[bodyStart...].starts(with: Array("<?xml".utf8))
            && bytes.count > bodyStart + 5 && scaipIsXMLSpace(bytes[bodyStart + 5])
        try rejectDeclarationsAndInstructions(bytes, xmlDeclarationAt: declaration ? bodyStart : nil)
        let encoding = declaration ? try declaredEncoding(bytes, from: bodyStart) : nil
        if encoding == nil || encoding == "UTF-8" {
            if let offset = invalidUTF8Offset(bytes) {
                throw SCAIPError(reason: "\(SCAIPParser.notUTF8Prefix) (byte offset \(offset))")
            }
        }
    }

    /// Rejects every `<!` that does not start a comment or a CDATA section, and every `<?`
    /// other than the XML declaration. Processing instructions are refused because
    /// FoundationXML on Linux dereferences a NULL pointer on one without data (`<?pi?>`).
    private static func rejectDeclarationsAndInstructions(_ bytes: [UInt8], xmlDeclarationAt declaration: Int?) throws(SCAIPError) {
        let lt = UInt8(ascii: "<")
        let bang = UInt8(ascii: "!")
        let question = UInt8(ascii: "?")
        var index = 0
        while index + 1 < bytes.count {
            guard bytes[index] == lt, bytes[index + 1] == bang || bytes[index + 1] == question else {
                index += 1
                continue
            }
            if bytes[index + 1] == question {
                guard index == declaration else {
                    throw SCAIPError(reason: "processing instructions are not allowed (only the XML declaration, at the very start)")
                }
                index += 2
                continue
            }
            let rest = bytes[(index + 2)...]
            if rest.starts(with: Array("--".utf8)) || rest.starts(with: Array("[CDATA[".utf8)) {
                index += 2
                continue
            }
            if startsCaseInsensitive(rest, with: "DOCTYPE") {
                throw SCAIPError(reason: "DOCTYPE declarations are not allowed (DTDs and entities are disabled)")
            }
            if startsCaseInsensitive(rest, with: "ENTITY") {
                throw SCAIPError(reason: "ENTITY declarations are not allowed (DTDs and entities are disabled)")
            }
            let shown = String(decoding: bytes[index..<min(bytes.count, index + 10)], as: UTF8.self)
            throw SCAIPError(reason: "markup declaration \(scaipQuoted(shown)) is not allowed (only comments and CDATA may start with \"<!\")")
        }
    }

    /// The upper-cased encoding named by an XML declaration at `start`, nil when none is declared.
    private static func declaredEncoding(_ bytes: [UInt8], from start: Int) throws(SCAIPError) -> String? {
        var end = start + 5
        while end + 1 < bytes.count, !(bytes[end] == UInt8(ascii: "?") && bytes[end + 1] == UInt8(ascii: ">")) {
            end += 1
        }
        let declaration = bytes[start..<min(end, bytes.count)]
        let keyword = Array("encoding".utf8)
        guard let keywordStart = firstRange(of: keyword, in: declaration) else {
            return nil
        }
        let malformed = SCAIPError(reason: "not XML: malformed encoding in the XML declaration")
        var index = keywordStart + keyword.count
        while index < declaration.endIndex, scaipIsXMLSpace(declaration[index]) { index += 1 }
        guard index < declaration.endIndex, declaration[index] == UInt8(ascii: "=") else { throw malformed }
        index += 1
        while index < declaration.endIndex, scaipIsXMLSpace(declaration[index]) { index += 1 }
        guard index < declaration.endIndex,
              declaration[index] == UInt8(ascii: "\"") || declaration[index] == UInt8(ascii: "'")
        else { throw malformed }
        let quote = declaration[index]
        index += 1
        guard let close = declaration[index...].firstIndex(of: quote) else { throw malformed }
        let name = String(decoding: declaration[index..<close], as: UTF8.self).uppercased()
        guard ["UTF-8", "US-ASCII", "ISO-8859-1"].contains(name) else {
            let shown = String(decoding: declaration[index..<close], as: UTF8.self)
            throw SCAIPError(reason: "unsupported encoding \(scaipQuoted(shown)) (only UTF-8, US-ASCII or ISO-8859-1 is accepted)")
        }
        return name
    }

    private static func firstRange(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index + needle.count <= haystack.endIndex {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func startsCaseInsensitive(_ bytes: ArraySlice<UInt8>, with word: String) -> Bool {
        let word = Array(word.utf8)
        guard bytes.count >= word.count else { return false }
        return zip(bytes, word).allSatisfy { byte, letter in
            byte == letter || byte == letter | 0x20  // `word` is upper case ASCII
        }
    }

    private static func invalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                offset += encoded.count
            case .error:
                return offset
            case .emptyInput:
                return nil
            }
        }
    }
}

// MARK: - XML reading

/// What the XML reader found: the trimmed text of each known field (the parts of a structured `lge` as
/// `lge/geo`, `lge/tim`, `lge/gga`), and the fields it could not read, with the reason.
struct SCAIPFields: Sendable, Equatable {
    var values: [String: String] = [:]
    var issues: [String: String] = [:]
}

/// The `XMLParser` delegate for one parse; collects the trimmed text of each known field. A field it cannot read
/// (a child element where text belongs, a repeat) is noted as an issue of that field and the parse goes on: an
/// alarm must not be lost because an optional part of it is unreadable.
private final class SCAIPXMLReader: NSObject, XMLParserDelegate {
    private var failure: SCAIPError?
    private var depth = 0
    private var sawRoot = false
    private var fields = SCAIPFields()
    private var currentField: String?
    private var text = ""
    /// Inside a structured `lge`: the child being read (`geo`, `tim`, `gga`) and its text.
    private var currentPart: String?
    private var partText = ""

    static func readFields(_ bytes: [UInt8]) throws(SCAIPError) -> SCAIPFields {
        let reader = SCAIPXMLReader()
        reader.fields.values.reserveCapacity(SCAIPParser.fieldNames.count)
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.shouldReportNamespacePrefixes = false
        parser.delegate = reader
        let succeeded = withExtendedLifetime(reader) { parser.parse() }
        parser.delegate = nil

        if let failure = reader.failure {
            throw failure
        }
        if !succeeded {
            let code = (parser.parserError as NSError?)?.code ?? 1
            throw scaipXMLError(code: code, line: parser.lineNumber)
        }
        guard reader.sawRoot else {
            // XMLParser reports nothing for documents shorter than 4 bytes.
            throw SCAIPError(reason: "XML error at line 1: document is empty or has no root element")
        }
        guard reader.depth == 0 else {
            throw SCAIPError(reason: "XML error at line \(max(parser.lineNumber, 1)): document ends inside an element")
        }
        return reader.fields
    }

    private func fail(_ error: SCAIPError, _ parser: XMLParser) {
        guard failure == nil else { return }
        failure = error
        parser.abortParsing()
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?, attributes attributeDict: [String: String]
    ) {
        guard failure == nil else { return }
        depth += 1
        if depth > SCAIPParser.maxDepth {
            fail(SCAIPError(reason: "XML nesting is deeper than \(SCAIPParser.maxDepth) elements (line \(parser.lineNumber))"), parser)
            return
        }
        switch depth {
        case 1:
            sawRoot = true
            if elementName != "mrq" {
                fail(SCAIPError(reason: "not SCAIP: root element is \(scaipQuoted(elementName)), expected \"mrq\""), parser)
            }
        case 2:
            guard SCAIPParser.knownFields.contains(elementName) else { return }  // unknown: ignored
            if fields.values[elementName] != nil || fields.issues[elementName] != nil {
                // The first one counts; the repeat is noted (and is fatal for a required field, see validate).
                fields.issues[elementName] = fields.issues[elementName] ?? "element is repeated (line \(parser.lineNumber))"
                return
            }
            currentField = elementName
            text = ""
        case 3:
            guard let field = currentField else { return }
            if field == "lge", SCAIPParser.positionParts.contains(elementName) {
                if fields.values["lge/\(elementName)"] != nil {
                    fields.issues["lge/\(elementName)"] = "element is repeated (line \(parser.lineNumber))"
                } else {
                    currentPart = elementName
                    partText = ""
                }
            } else if field != "lge" {
                fields.issues[field] = "must contain only text, found element \(scaipQuoted(elementName))"
                currentField = nil
            }  // other children of lge: ignored, like unknown fields
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard failure == nil else { return }
        if depth == 3, let part = currentPart {
            fields.values["lge/\(part)"] = scaipTrimmed(partText)
            currentPart = nil
            partText = ""
        }
        if depth == 2, let field = currentField {
            fields.values[field] = scaipTrimmed(text)
            currentField = nil
            text = ""
        }
        depth -= 1
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        append(string)
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        append(String(decoding: CDATABlock, as: UTF8.self))
    }

    /// Text belongs to the field at depth 2, or to the part of a structured `lge` at depth 3; a field's text is
    /// bounded so that a huge one costs no more than a rejection.
    private func append(_ string: String) {
        guard failure == nil, currentField != nil else { return }
        if depth == 2, text.utf8.count <= SCAIPParser.maxBytes {
            text += string
        } else if depth == 3, currentPart != nil, partText.utf8.count <= SCAIPParser.maxBytes {
            partText += string
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        let code = (parseError as NSError).code
        if scaipLibxml2WarningCodes.contains(code) { return }
        fail(scaipXMLError(code: code, line: parser.lineNumber), parser)
    }

    func parser(_ parser: XMLParser, validationErrorOccurred validationError: Error) {
        let code = (validationError as NSError).code
        fail(scaipXMLError(code: code, line: parser.lineNumber), parser)
    }

    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        fail(SCAIPError(reason: "XML error at line \(parser.lineNumber): entity \(scaipQuoted(name)) is not allowed"), parser)
        return nil
    }
}

// MARK: - libxml2 error codes

/// libxml2 `xmlParserErrors` that are only warnings (XML_WAR_*). FoundationXML passes the raw
/// libxml2 code without its level, so warnings are recognized by code.
private let scaipLibxml2WarningCodes: Set<Int> = [27, 93, 97, 98, 99, 100, 102, 106, 107]

/// FoundationXML hands over only libxml2's error code (not its message), so the common
/// codes are described here.
private func scaipXMLError(code: Int, line: Int) -> SCAIPError {
    let what: String = switch code {
    case 2: "out of memory"
    case 3: "start tag expected, \"<\" not found"
    case 4: "document is empty"
    case 5: "document is incomplete or has content after the root element"
    case 6, 7, 8: "invalid character reference"
    case 9: "invalid character"
    case 10, 14: "reference at the end of the document"
    case 11, 12, 15, 16: "reference outside the root element"
    case 22, 24: "entity reference without a name (a bare \"&\" must be written \"&amp;\")"
    case 23, 25: "entity reference is missing its \";\""
    case 26: "undefined entity (only &lt; &gt; &amp; &quot; &apos; and character references are allowed)"
    case 31, 32: "unsupported encoding"
    case 33, 34, 43, 44: "unterminated or missing quoted value"
    case 35: "invalid namespace declaration"
    case 38: "\"<\" in an attribute value"
    case 39, 40: "malformed attribute"
    case 41: "attribute without a value"
    case 42: "attribute repeated"
    case 45: "comment not terminated"
    case 46, 47: "malformed processing instruction"
    case 56, 57: "malformed XML declaration"
    case 62: "\"]]>\" outside a CDATA section"
    case 63: "CDATA section not terminated"
    case 64: "XML declaration not at the start of the document, or a reserved \"xml\" name"
    case 65: "space required"
    case 68: "name expected (a bare \"&\" or \"<\" in text must be escaped)"
    case 72: "\"<\" expected"
    case 73: "\">\" expected"
    case 74: "\"</\" expected"
    case 75: "\"=\" expected"
    case 76: "end tag does not match start tag"
    case 77: "document ends before all elements are closed"
    case 79: "invalid encoding name"
    case 80: "\"--\" inside a comment"
    case 81: "bytes are not valid in the declared encoding"
    case 85: "document is not well-balanced"
    case 86: "extra content at the end of the document"
    case 89, 88, 90: "entity error"
    case 96: "XML declaration has no version"
    case 101: "encoding missing in the text declaration"
    case 108, 109: "unsupported XML version"
    case 110: "name too long"
    case 200...205: "namespace error"
    default: "malformed XML"
    }
    return SCAIPError(reason: "XML error at line \(max(line, 1)): \(what) (libxml2 error \(code))")
}

// MARK: - Helpers

private func scaipIsDigit(_ byte: UInt8) -> Bool {
    byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
}

private func scaipIsXMLSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}

/// `value` without leading and trailing white space (Unicode White_Space, which includes
/// the XML white space characters and line breaks).
func scaipTrimmed(_ value: String) -> String {
    func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII ? scalar == " " || (0x09...0x0D).contains(scalar.value) : scalar.properties.isWhitespace
    }
    let scalars = value.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
    let last = scalars.lastIndex(where: { !isSpace($0) })!
    if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return value }
    return String(scalars[first...last])
}

/// `value` in double quotes for an error message: at most 64 characters, control
/// characters shown as "?", so a hostile payload cannot flood or forge log lines.
func scaipQuoted(_ value: String) -> String {
    var shown = ""
    var count = 0
    for scalar in value.unicodeScalars {
        if count == 64 {
            shown += "…"
            break
        }
        switch scalar {
        // Escaped, so that a quoted value cannot end its quotes early (a redacted reason hides what is quoted).
        case "\"": shown += "\\\""
        case "\\": shown += "\\\\"
        default: shown.unicodeScalars.append(scalar.properties.generalCategory == .control ? "?" : scalar)
        }
        count += 1
    }
    return "\"\(shown)\""
}

/// Text content escaping, with characters XML 1.0 cannot represent replaced by U+FFFD.
func scaipXMLEscaped(_ value: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(value.utf8.count)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&apos;"
        case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
        case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
            escaped += "\u{FFFD}"
        default:
            escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}
