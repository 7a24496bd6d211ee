#if canImport(FoundationXML)
import FoundationXML
#endif
import Foundation
import Testing
@testable import Ingest

// MARK: - Helpers (SCAIP-specific names: this target holds other test files too)

private func scaipParse(_ text: String) throws(SCAIPError) -> SCAIPMessage {
    try SCAIPParser.parse(Array(text.utf8))
}

/// The error `parse` throws for `bytes`, or nil when they parse.
private func scaipError(_ bytes: [UInt8]) -> SCAIPError? {
    do {
        _ = try SCAIPParser.parse(bytes)
        return nil
    } catch {
        return error
    }
}

private func scaipError(_ text: String) -> SCAIPError? {
    scaipError(Array(text.utf8))
}

/// The problem `parse` reports for `text`: the error it throws (a required field, or the whole document), or
/// else the first issue of an optional field, which leaves the message usable.
private func scaipProblem(_ text: String) -> SCAIPError? {
    do {
        return try SCAIPParser.parse(Array(text.utf8)).issues.first
    } catch {
        return error
    }
}

/// A minimal valid alarm with `extra` field elements inserted before `</mrq>`.
private func scaipDocument(_ extra: String = "", ref: String = "<ref>r1</ref>", cid: String = "<cid>c1</cid>", mty: String = "<mty>ME</mty>") -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mrq>\n\(ref)\n\(cid)\n\(mty)\n\(extra)\n</mrq>\n"
}

// MARK: - Golden vectors

/// Personal trigger (0003) pressed: manual alarm (0010). The example of the design brief.
private let scaipButtonAlarm = """
<?xml version="1.0" encoding="UTF-8"?>
<mrq>
  <ref>ab12cd34</ref>
  <ver>1.1</ver>
  <cid>0046701234567</cid>
  <dty>0003</dty>
  <did>SA-000123</did>
  <dco>1</dco>
  <dte>Personal trigger</dte>
  <mty>ME</mty>
  <stc>0010</stc>
  <stt>Manual alarm</stt>
  <pri>1</pri>
  <cha>01</cha>
  <crd>+46701234567</crd>
  <lco>0001</lco>
  <lte>Hallway</lte>
  <lge>59.3293,18.0686</lge>
</mrq>
"""

/// Fall detector (0005): automatic alarm (0009) with a GNSS position and its accuracy.
private let scaipFallAlarm = """
<?xml version="1.0" encoding="UTF-8"?>
<mrq>
  <ref>f00d0042</ref>
  <ver>1.1</ver>
  <cid>0046709876543</cid>
  <dty>0005</dty>
  <did>FD-778812</did>
  <dco>2</dco>
  <dte>Fall detector</dte>
  <mty>ME</mty>
  <stc>0009</stc>
  <stt>Automatic alarm: fall detected</stt>
  <pri>1</pri>
  <cha>01</cha>
  <crd>+46709876543</crd>
  <lco>0003</lco>
  <lte>Badrum</lte>
  <lge>59.8586, 17.6389, 15</lge>
</mrq>
"""

/// The alarm above is reset (0092) at the device.
private let scaipReset = """
<?xml version="1.0" encoding="UTF-8"?>
<mrq>
  <ref>f00d0043</ref>
  <ver>1.1</ver>
  <cid>0046709876543</cid>
  <dty>0005</dty>
  <did>FD-778812</did>
  <mty>RE</mty>
  <stc>0092</stc>
  <stt>Reset</stt>
  <pri>1</pri>
</mrq>
"""

/// Information: the personal trigger's battery is low (0016).
private let scaipBatteryLow = """
<?xml version="1.0" encoding="UTF-8"?>
<mrq>
  <ref>0000beef</ref>
  <ver>1.1</ver>
  <cid>0046701234567</cid>
  <dty>0003</dty>
  <did>SA-000123</did>
  <dte>Personal trigger</dte>
  <mty>IN</mty>
  <stc>0016</stc>
  <stt>Battery low</stt>
  <pri>5</pri>
</mrq>
"""

/// Heartbeat from the controller: only the required fields and the version.
private let scaipHeartbeat = """
<?xml version="1.0" encoding="UTF-8"?>
<mrq>
  <ref>hb-20240101-0001</ref>
  <ver>1.1</ver>
  <cid>0046701234567</cid>
  <mty>PI</mty>
</mrq>
"""

@Suite("SCAIP: golden vectors")
struct SCAIPGoldenVectorTests {
    @Test func personalTriggerManualAlarm() throws {
        #expect(try scaipParse(scaipButtonAlarm) == SCAIPMessage(
            reference: "ab12cd34", version: "1.1", controllerID: "0046701234567", deviceType: "0003",
            deviceID: "SA-000123", component: "1", deviceText: "Personal trigger", messageType: .alarm,
            statusCode: "0010", statusText: "Manual alarm", priority: 1, callHandling: "01",
            callerAddress: "+46701234567", locationCode: "0001", locationText: "Hallway",
            position: GeoPosition(latitude: 59.3293, longitude: 18.0686, accuracyMeters: nil)
        ))
    }

    @Test func fallDetectorAutomaticAlarmWithPosition() throws {
        #expect(try scaipParse(scaipFallAlarm) == SCAIPMessage(
            reference: "f00d0042", version: "1.1", controllerID: "0046709876543", deviceType: "0005",
            deviceID: "FD-778812", component: "2", deviceText: "Fall detector", messageType: .alarm,
            statusCode: "0009", statusText: "Automatic alarm: fall detected", priority: 1, callHandling: "01",
            callerAddress: "+46709876543", locationCode: "0003", locationText: "Badrum",
            position: GeoPosition(latitude: 59.8586, longitude: 17.6389, accuracyMeters: 15)
        ))
    }

    @Test func reset() throws {
        #expect(try scaipParse(scaipReset) == SCAIPMessage(
            reference: "f00d0043", version: "1.1", controllerID: "0046709876543", deviceType: "0005",
            deviceID: "FD-778812", messageType: .reset, statusCode: "0092", statusText: "Reset", priority: 1
        ))
    }

    @Test func batteryLowInfo() throws {
        #expect(try scaipParse(scaipBatteryLow) == SCAIPMessage(
            reference: "0000beef", version: "1.1", controllerID: "0046701234567", deviceType: "0003",
            deviceID: "SA-000123", deviceText: "Personal trigger", messageType: .info,
            statusCode: "0016", statusText: "Battery low", priority: 5
        ))
    }

    @Test func heartbeat() throws {
        #expect(try scaipParse(scaipHeartbeat) == SCAIPMessage(
            reference: "hb-20240101-0001", version: "1.1", controllerID: "0046701234567", messageType: .heartbeat
        ))
    }

    @Test func doorSensorLocked() throws {
        let message = try scaipParse(scaipDocument("<dty>0014</dty><stc>0118</stc><stt>Locked</stt>", mty: "<mty>IN</mty>"))
        #expect(message.deviceType == "0014")
        #expect(message.statusCode == "0118")
        #expect(message.messageType == .info)
    }

    @Test func messageTypeRawValues() {
        #expect(SCAIPMessage.MessageType(rawValue: "ME") == .alarm)
        #expect(SCAIPMessage.MessageType(rawValue: "RE") == .reset)
        #expect(SCAIPMessage.MessageType(rawValue: "IN") == .info)
        #expect(SCAIPMessage.MessageType(rawValue: "PI") == .heartbeat)
        #expect(SCAIPMessage.MessageType(rawValue: "me") == nil)
    }
}

// MARK: - Tolerated variations

@Suite("SCAIP: tolerated variations")
struct SCAIPToleranceTests {
    @Test func unknownElementsAttributesAndCommentsAreIgnored() throws {
        let text = """
        <mrq xmlns="urn:example:scaip" version="2">
          <!-- sent by a newer controller -->
          <ref id="x">r1</ref>
          <cid>c1</cid>
          <mty>ME</mty>
          <xyz>future field</xyz>
          <ext><sub><ref>nested ref is not the field</ref></sub></ext>
          <xyz>unknown elements may repeat</xyz>
        </mrq>
        """
        #expect(try scaipParse(text) == SCAIPMessage(reference: "r1", controllerID: "c1", messageType: .alarm))
    }

    @Test func textIsTrimmedAndEntitiesCharacterReferencesAndCDATAAreDecoded() throws {
        let message = try scaipParse(scaipDocument("""
        <stt>
            Larm &amp; &lt;fall&gt; &#x41;&#66;
        </stt>
        <lte><![CDATA[ Kök <vid> fönstret ]]></lte>
        <dte>Trygg<!-- split -->hetslarm</dte>
        """))
        #expect(message.statusText == "Larm & <fall> AB")
        #expect(message.locationText == "Kök <vid> fönstret")
        #expect(message.deviceText == "Trygghetslarm")
    }

    @Test func emptyOptionalElementsAreAbsent() throws {
        let message = try scaipParse(scaipDocument("<dty></dty><did/><pri>  </pri><lge></lge><stt>\n</stt>"))
        #expect(message == SCAIPMessage(reference: "r1", controllerID: "c1", messageType: .alarm))
    }

    @Test func byteOrderMarkAndMissingDeclarationAreAccepted() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("<mrq><ref>r</ref><cid>c</cid><mty>PI</mty></mrq>".utf8)
        #expect(try SCAIPParser.parse(bytes).messageType == .heartbeat)
    }

    @Test func isoLatin1IsDecoded() throws {
        let bytes = Array(#"<?xml version="1.0" encoding="ISO-8859-1"?><mrq><ref>r</ref><cid>c</cid><mty>ME</mty><lte>K"#.utf8)
            + [0xF6, 0x6B] + Array("</lte></mrq>".utf8)  // "Kök" in ISO-8859-1
        #expect(try SCAIPParser.parse(bytes).locationText == "Kök")
    }

    @Test func positionVariants() throws {
        func position(_ text: String) throws -> GeoPosition? {
            try scaipParse(scaipDocument("<lge>\(text)</lge>")).position
        }
        #expect(try position("-33.8688,151.2093") == GeoPosition(latitude: -33.8688, longitude: 151.2093))
        #expect(try position("+90,-180,0") == GeoPosition(latitude: 90, longitude: -180, accuracyMeters: 0))
        #expect(try position("-90 , 180 , 2.5") == GeoPosition(latitude: -90, longitude: 180, accuracyMeters: 2.5))
        #expect(try position(".5,5.") == GeoPosition(latitude: 0.5, longitude: 5))
    }

    @Test func priorityBounds() throws {
        #expect(try scaipParse(scaipDocument("<pri>9</pri>")).priority == 9)
        #expect(try scaipParse(scaipDocument("<pri>01</pri>")).priority == 1)
    }

    @Test func valueOfExactlyMaximumLengthIsAccepted() throws {
        let text = String(repeating: "å", count: SCAIPParser.maxFieldLength)
        #expect(try scaipParse(scaipDocument("<dte>\(text)</dte>")).deviceText == text)
    }
}

// MARK: - Validation errors

@Suite("SCAIP: validation errors")
struct SCAIPValidationTests {
    @Test(arguments: [
        (scaipDocument(ref: ""), #"field "ref": required element is missing"#),
        (scaipDocument(cid: ""), #"field "cid": required element is missing"#),
        (scaipDocument(mty: ""), #"field "mty": required element is missing"#),
        (scaipDocument(ref: "<ref>  </ref>"), #"field "ref": required element is empty"#),
        (scaipDocument(cid: "<cid/>"), #"field "cid": required element is empty"#),
        (scaipDocument(mty: "<mty>XX</mty>"), #"field "mty": unknown message type "XX" (expected ME, RE, IN or PI)"#),
        (scaipDocument("<dty>003</dty>"), #"field "dty": device type "003" is not exactly 4 digits"#),
        (scaipDocument("<dty>00a3</dty>"), #"field "dty": device type "00a3" is not exactly 4 digits"#),
        (scaipDocument("<stc>10</stc>"), #"field "stc": status code "10" is not exactly 4 digits"#),
        (scaipDocument("<stc>００１０</stc>"), #"field "stc": status code "００１０" is not exactly 4 digits"#),
        (scaipDocument("<pri>high</pri>"), #"field "pri": priority "high" is not an integer"#),
        (scaipDocument("<pri>1.5</pri>"), #"field "pri": priority "1.5" is not an integer"#),
        (scaipDocument("<pri>0</pri>"), #"field "pri": priority 0 is outside 1...9"#),
        (scaipDocument("<pri>10</pri>"), #"field "pri": priority 10 is outside 1...9"#),
        (scaipDocument("<pri>-1</pri>"), #"field "pri": priority -1 is outside 1...9"#),
        (scaipDocument("<lge>91.2,18.0686</lge>"), #"field "lge": latitude 91.2 is outside -90...90"#),
        (scaipDocument("<lge>-90.0001,0</lge>"), #"field "lge": latitude -90.0001 is outside -90...90"#),
        (scaipDocument("<lge>59.3293,180.5</lge>"), #"field "lge": longitude 180.5 is outside -180...180"#),
        (scaipDocument("<lge>59.3293 18.0686</lge>"),
         #"field "lge": expected "latitude,longitude" or "latitude,longitude,accuracy" in decimal degrees, got "59.3293 18.0686""#),
        (scaipDocument("<lge>1,2,3,4</lge>"),
         #"field "lge": expected "latitude,longitude" or "latitude,longitude,accuracy" in decimal degrees, got "1,2,3,4""#),
        (scaipDocument("<lge>nan,18</lge>"), #"field "lge": latitude "nan" is not a decimal number"#),
        (scaipDocument("<lge>59,inf</lge>"), #"field "lge": longitude "inf" is not a decimal number"#),
        (scaipDocument("<lge>1e1,18</lge>"), #"field "lge": latitude "1e1" is not a decimal number"#),
        (scaipDocument("<lge>0x10,18</lge>"), #"field "lge": latitude "0x10" is not a decimal number"#),
        (scaipDocument("<lge>59.3,</lge>"), #"field "lge": longitude "" is not a decimal number"#),
        (scaipDocument("<lge>59.3,18.0,abc</lge>"), #"field "lge": accuracy "abc" is not a decimal number"#),
        (scaipDocument("<lge>59.3,18.0,-5</lge>"), #"field "lge": accuracy -5 must not be negative"#),
        (scaipDocument("<dte>\(String(repeating: "x", count: 257))</dte>"),
         #"field "dte": value is 257 characters long, at most 256 allowed"#),
        (scaipDocument(ref: "<ref>\(String(repeating: "r", count: 300))</ref>"),
         #"field "ref": value is 300 characters long, at most 256 allowed"#),
        (scaipDocument("<stt>a<b>bold</b>c</stt>"), #"field "stt": must contain only text, found element "b""#),
    ])
    func rejected(document: String, expected: String) throws {
        // A required field's problem rejects the message; an optional field's is an issue of a message that is
        // still read (an alarm must not be lost to an unreadable priority), and that field is left out.
        if let error = scaipError(document) {
            #expect(error.description == expected)
            #expect(SCAIPParser.requiredFields.contains(error.field ?? ""))
        } else {
            let message = try SCAIPParser.parse(Array(document.utf8))
            #expect(message.issues.map(\.description) == [expected])
            #expect(message.messageType == .alarm)
            let field = try #require(message.issues.first?.field)
            #expect(!SCAIPParser.requiredFields.contains(field))
            switch field {
            case "dty": #expect(message.deviceType == nil)
            case "stc": #expect(message.statusCode == nil)
            case "pri": #expect(message.priority == nil)
            case "lge": #expect(message.position == nil)
            case "dte": #expect(message.deviceText == nil)
            case "stt": #expect(message.statusText == nil)
            default: Issue.record("unexpected field \(field)")
            }
        }
    }

    @Test func aLowerCaseMessageTypeIsReadWithAnIssue() throws {
        let message = try scaipParse(scaipDocument(mty: "<mty>me</mty>"))
        #expect(message.messageType == .alarm)
        #expect(message.issues.map(\.description) == [#"field "mty": message type "me" read as ME"#])
    }

    @Test func repeatedFieldIsAnErrorNamingTheField() {
        let error = scaipError("<mrq>\n<ref>a</ref>\n<cid>c</cid>\n<ref>b</ref>\n<mty>ME</mty></mrq>")
        #expect(error == SCAIPError(field: "ref", reason: "element is repeated (line 4)"))
    }

    @Test func wrongRootIsNotSCAIP() {
        #expect(scaipError("<foo><ref>r</ref></foo>") == SCAIPError(reason: #"not SCAIP: root element is "foo", expected "mrq""#))
        #expect(scaipError("<mrs><ref>r</ref><snu>0</snu></mrs>")?.description == #"not SCAIP: root element is "mrs", expected "mrq""#)
    }

    @Test func problemsAreReportedInFieldOrder() throws {
        // dty comes before pri and lge in the validation order; each optional field's problem is its own issue.
        let message = try scaipParse(scaipDocument("<lge>100,0</lge><pri>0</pri><dty>1</dty>"))
        #expect(message.issues.map(\.field) == ["dty", "pri", "lge"])
    }

    @Test func errorDescriptionWithAndWithoutField() {
        #expect(SCAIPError(field: "lge", reason: "x").description == #"field "lge": x"#)
        #expect(SCAIPError(reason: "payload is empty").description == "payload is empty")
    }

    @Test func hostileValuesAreShortenedAndDefangedInMessages() throws {
        let error = try #require(scaipError(scaipDocument(mty: "<mty>\(String(repeating: "Z", count: 200))</mty>")))
        #expect(error.reason == "unknown message type \"\(String(repeating: "Z", count: 64))…\" (expected ME, RE, IN or PI)")
        let tab = try #require(scaipProblem(scaipDocument("<dty>0\t03</dty>")))
        #expect(tab.reason == #"device type "0?03" is not exactly 4 digits"#)
    }
}

// MARK: - Hardening

@Suite("SCAIP: hardening")
struct SCAIPHardeningTests {
    static let doctypeRejection = "DOCTYPE declarations are not allowed (DTDs and entities are disabled)"

    @Test func externalEntityIsRejectedBeforeParsing() {
        let xxe = """
        <?xml version="1.0"?>
        <!DOCTYPE mrq [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
        <mrq><ref>&xxe;</ref><cid>c</cid><mty>ME</mty></mrq>
        """
        #expect(scaipError(xxe) == SCAIPError(reason: Self.doctypeRejection))
    }

    @Test func billionLaughsIsRejectedBeforeParsing() {
        var laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        for level in 1...9 {
            laughs += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1 == 0 ? "" : String(level - 1));", count: 10) + "\">\n"
        }
        laughs += "]>\n<mrq><ref>&lol9;</ref><cid>c</cid><mty>ME</mty></mrq>"
        #expect(scaipError(laughs) == SCAIPError(reason: Self.doctypeRejection))
    }

    @Test func declarationsAreRejectedInAnyCaseAndAnyPlace() {
        #expect(scaipError("<!doctype mrq><mrq/>")?.reason == Self.doctypeRejection)
        #expect(scaipError("<mrq><!-- <!DOCTYPE x> --><ref>r</ref><cid>c</cid><mty>ME</mty></mrq>")?.reason == Self.doctypeRejection)
        #expect(scaipError("<mrq><!ENTITY x \"y\"><ref>r</ref></mrq>")?.reason
            == "ENTITY declarations are not allowed (DTDs and entities are disabled)")
        #expect(scaipError("<mrq><!ELEMENT mrq ANY><ref>r</ref></mrq>")?.reason
            == #"markup declaration "<!ELEMENT " is not allowed (only comments and CDATA may start with "<!")"#)
    }

    @Test func processingInstructionsAreRejectedBeforeParsing() {
        // FoundationXML on Linux crashes on `<?pi?>`; it must never reach XMLParser.
        let reason = "processing instructions are not allowed (only the XML declaration, at the very start)"
        #expect(scaipError("<mrq><?pi?><ref>r</ref><cid>c</cid><mty>ME</mty></mrq>")?.reason == reason)
        #expect(scaipError("<mrq><ref>r</ref><cid>c</cid><mty>ME</mty></mrq><?pi?>")?.reason == reason)
        #expect(scaipError("<?pi?><mrq/>")?.reason == reason)
        #expect(scaipError("<?xml-stylesheet href='a'?><mrq/>")?.reason == reason)
        #expect(scaipError("<?xml?><mrq/>")?.reason == reason)
        #expect(scaipError("<mrq/>  <?xml version=\"1.0\"?>")?.reason == reason)  // declaration not at the start
        // Whitespace before the declaration (a stray newline) is not a processing instruction.
        #expect(scaipError("\n  <?xml version=\"1.0\"?><mrq><ref>r</ref><cid>c</cid><mty>ME</mty></mrq>") == nil)
        #expect(scaipError("<?xml version=\"1.0\"?><?xml version=\"1.0\"?><mrq/>")?.reason == reason)
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        #expect(scaipError(bom + Array(#"<?xml version="1.0"?><mrq><ref>r</ref><cid>c</cid><mty>ME</mty></mrq>"#.utf8)) == nil)
    }

    @Test func undeclaredEntityReferenceIsAnXMLError() throws {
        let error = try #require(scaipError("<mrq>\n<ref>&xxe;</ref><cid>c</cid><mty>ME</mty></mrq>"))
        #expect(error.field == nil)
        #expect(error.reason.hasPrefix("XML error at line 2: "))
        #expect(error.reason.contains("entity"))
    }

    @Test func otherEncodingsAreRejected() {
        #expect(scaipError(#"<?xml version="1.0" encoding="UTF-16"?><mrq/>"#)?.reason
            == #"unsupported encoding "UTF-16" (only UTF-8, US-ASCII or ISO-8859-1 is accepted)"#)
        #expect(scaipError(#"<?xml version="1.0" encoding='utf-7'?><mrq/>"#)?.reason
            == #"unsupported encoding "utf-7" (only UTF-8, US-ASCII or ISO-8859-1 is accepted)"#)
        #expect(scaipError(#"<?xml version="1.0" encoding=UTF-8?><mrq/>"#)?.reason
            == "not XML: malformed encoding in the XML declaration")
        // UTF-16LE with and without a byte order mark: "<m" is 3C 00 6D 00.
        #expect(scaipError([0xFF, 0xFE, 0x3C, 0x00, 0x6D, 0x00])?.reason
            == "payload contains a NUL byte at offset 3 (only UTF-8, US-ASCII or ISO-8859-1 XML is accepted)")
        #expect(scaipError([0x3C, 0x00, 0x6D, 0x00])?.reason
            == "payload contains a NUL byte at offset 1 (only UTF-8, US-ASCII or ISO-8859-1 XML is accepted)")
        // EBCDIC "<?xm", which libxml2 would otherwise autodetect.
        #expect(scaipError([0x4C, 0x6F, 0xA7, 0x94])?.reason == #"not XML: the payload does not start with "<""#)
    }

    @Test func invalidUTF8IsRejectedWithItsOffset() {
        let bytes = Array("<mrq><ref>".utf8) + [0xC3, 0x28] + Array("</ref></mrq>".utf8)
        #expect(scaipError(bytes)?.reason == "payload is not valid UTF-8 (byte offset 10)")
    }

    @Test func depthLimit() throws {
        func nested(_ depth: Int) -> String {  // mrq is depth 1, `ext` elements go below it
            let inner = depth - 1
            return "<mrq><ref>r</ref><cid>c</cid><mty>ME</mty>"
                + String(repeating: "<ext>", count: inner) + String(repeating: "</ext>", count: inner) + "</mrq>"
        }
        #expect(try SCAIPParser.parse(Array(nested(SCAIPParser.maxDepth).utf8)).reference == "r")
        #expect(scaipError(nested(SCAIPParser.maxDepth + 1)) == SCAIPError(reason: "XML nesting is deeper than 64 elements (line 1)"))
        // Far deeper than the limit, still within the size limit.
        let deep = "<mrq>" + String(repeating: "<a>", count: 5000)
        #expect(scaipError(deep)?.reason == "XML nesting is deeper than 64 elements (line 1)")
        // An unknown extension nested a dozen deep is ignored; the alarm stands.
        let extended = try SCAIPParser.parse(Array(nested(12).utf8))
        #expect(extended.messageType == .alarm)
    }

    @Test func sizeLimit() throws {
        let base = scaipDocument()
        let padding = SCAIPParser.maxBytes - base.utf8.count
        let atLimit = base + String(repeating: " ", count: padding)
        #expect(atLimit.utf8.count == SCAIPParser.maxBytes)
        #expect(try scaipParse(atLimit).reference == "r1")
        #expect(scaipError(atLimit + " ") == SCAIPError(reason: "payload is 16385 bytes, at most 16384 allowed"))
        #expect(scaipError([UInt8](repeating: 0x3C, count: 1_000_000))?.reason == "payload is 1000000 bytes, at most 16384 allowed")
        #expect(scaipError([UInt8]()) == SCAIPError(reason: "payload is empty"))
    }
}

// MARK: - Malformed XML

@Suite("SCAIP: malformed XML")
struct SCAIPMalformedTests {
    @Test func mismatchedEndTagNamesTheLine() {
        let text = "<mrq>\n<ref>r</ref>\n<cid>c</mrq>\n"
        #expect(scaipError(text)?.description == "XML error at line 3: end tag does not match start tag (libxml2 error 76)")
    }

    @Test(arguments: [
        "<mrq><ref>r</ref><cid>c</cid><mty>ME</mty>",  // root never closed
        "<mrq><ref>r</ref><cid>c</cid><mty>ME</mty></mrq><mrq/>",  // two roots
        "<mrq><ref>r</ref><cid>c</cid><mty>ME</mty></mrq>trailing",
        "<mrq><ref>fish & chips</ref><cid>c</cid><mty>ME</mty></mrq>",  // bare "&"
        "<mrq><ref a=1>r</ref><cid>c</cid><mty>ME</mty></mrq>",  // unquoted attribute
        "<mrq><ref>\u{1}</ref><cid>c</cid><mty>ME</mty></mrq>",  // control character
        "<mrq><ref>&#0;</ref><cid>c</cid><mty>ME</mty></mrq>",
        "<mrq><![CDATA[never closed</mrq>",
        "<mrq><!-- never closed </mrq>",
        "<mrq><p:ref>r</p:ref><cid>c</cid><mty>ME</mty></mrq>",  // undeclared namespace prefix
        "<?xml version=\"9.0\"?><mrq/>",
        "<?xml ?><mrq/>",  // declaration without version
    ])
    func xmlErrors(text: String) throws {
        // Either refused with the XML error, or, when ref, cid and mty stand plainly in it, read from those alone
        // with the XML error as its first issue (an alarm is not lost to a malformed document).
        do throws(SCAIPError) {
            let message = try SCAIPParser.parse(Array(text.utf8))
            #expect(message.reference == "r" && message.controllerID == "c" && message.messageType == .alarm, "\(text)")
            #expect(message.issues.first?.field == nil)
            #expect(message.issues.first?.reason.contains("not well-formed (XML error at line 1: ") == true, "\(message.issues)")
        } catch {
            #expect(error.field == nil)
            #expect(error.reason.hasPrefix("XML error at line 1: "), "\(error)")
        }
    }

    @Test func notXMLAtAll() {
        #expect(scaipError(#"{"ref":"r","cid":"c","mty":"ME"}"#)?.reason == #"not XML: the payload does not start with "<""#)
        #expect(scaipError("   \n ")?.reason == #"not XML: the payload does not start with "<""#)
    }

    @Test func tooShortDocuments() {
        for text in ["<", "<m", "<mr", "<mrq", "<mrq>"] {
            let error = scaipError(text)
            #expect(error?.reason.hasPrefix("XML error at line 1: ") == true, "\(text): \(String(describing: error))")
        }
    }
}

// MARK: - Properties: never crash, always a message or a reasoned error

@Suite("SCAIP: robustness")
struct SCAIPRobustnessTests {
    /// Every outcome is a message that satisfies the validation rules, or an error with a reason.
    private static func checkOutcome(_ bytes: [UInt8]) -> Bool {
        do {
            let message = try SCAIPParser.parse(bytes)
            #expect(!message.reference.isEmpty && !message.controllerID.isEmpty)
            #expect(message.reference.unicodeScalars.count <= SCAIPParser.maxFieldLength)
            #expect(message.deviceType.map { $0.utf8.count == 4 } ?? true)
            #expect(message.statusCode.map { $0.utf8.count == 4 } ?? true)
            #expect(message.priority.map { (1...9).contains($0) } ?? true)
            if let position = message.position {
                #expect((-90...90).contains(position.latitude) && (-180...180).contains(position.longitude))
            }
            return true
        } catch {
            #expect(!error.reason.isEmpty)
            return false
        }
    }

    @Test func randomBytes() {
        var random = SplitMix64(state: 0x5CA1_9001)
        let alphabet = Array("<>/?!=\"'&;#[]-mrqefcidtyplgsno0123456789 \n".utf8)
        var messages = 0
        for round in 0..<2_000 {
            let count = Int.random(in: 0...600, using: &random)
            let bytes: [UInt8] = (0..<count).map { _ in
                // Half of the arrays use XML-ish characters so that the parser gets past the screen.
                round.isMultiple(of: 2) ? UInt8.random(in: 0...255, using: &random) : alphabet.randomElement(using: &random)!
            }
            if Self.checkOutcome(bytes) { messages += 1 }
        }
        #expect(messages == 0)  // random bytes never form a valid mrq
    }

    @Test func mutatedDocuments() {
        var random = SplitMix64(state: 0xA1A2_0016)
        let seeds = [scaipButtonAlarm, scaipFallAlarm, scaipReset, scaipBatteryLow, scaipHeartbeat].map { Array($0.utf8) }
        let tokens = ["<", ">", "</", "&", "&amp;", "<!--", "]]>", "<![CDATA[", "<!DOCTYPE x>", "<mrq>", "</ref>", "<ref>",
                      "\u{0}", "\u{FEFF}", "é", "\"", ",", "999", "<x><y><z><w><v><u><t><s>"].map { Array($0.utf8) }
        var messages = 0
        var errors = 0
        for _ in 0..<2_000 {
            var bytes = seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0:  // truncate
                    bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
                case 1:  // flip one bit
                    guard !bytes.isEmpty else { break }
                    let index = Int.random(in: 0..<bytes.count, using: &random)
                    bytes[index] ^= 1 << UInt8.random(in: 0...7, using: &random)
                case 2:  // insert a random byte
                    bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
                default:  // insert an XML token
                    bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: Int.random(in: 0...bytes.count, using: &random))
                }
            }
            if Self.checkOutcome(bytes) { messages += 1 } else { errors += 1 }
        }
        // Both outcomes occur, so the property is exercised on both paths.
        #expect(messages > 50)
        #expect(errors > 500)
    }

    @Test func concurrentParsesAgreeWithSequentialOnes() async {
        let inputs = [scaipButtonAlarm, scaipFallAlarm, scaipReset, scaipBatteryLow, scaipHeartbeat,
                      "<mrq><ref>r</ref></mrq>", "<foo/>", "<mrq><a></b></mrq>", scaipDocument("<lge>95,0</lge>")]
            .map { Array($0.utf8) }
        func outcome(_ bytes: [UInt8]) -> Result<SCAIPMessage, SCAIPError> {
            Result { () throws(SCAIPError) in try SCAIPParser.parse(bytes) }
        }
        let expected = inputs.map(outcome)
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mismatches = 0
                    for round in 0..<300 {
                        let index = (worker + round) % inputs.count
                        if outcome(inputs[index]) != expected[index] { mismatches += 1 }
                    }
                    return mismatches
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        #expect((try? expected[0].get())?.reference == "ab12cd34")
    }
}

// MARK: - Response

/// Reads `<mrs>` back with XMLParser to prove the answer is well-formed.
private final class SCAIPResponseReader: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var texts: [String: String] = [:]
    private var current: String?

    static func read(_ bytes: [UInt8]) -> SCAIPResponseReader? {
        let reader = SCAIPResponseReader()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = reader
        return parser.parse() ? reader : nil
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String]) {
        elements.append(elementName)
        current = elementName
        texts[elementName, default: ""] += ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let current { texts[current, default: ""] += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        current = nil
    }
}

@Suite("SCAIP: mrs response")
struct SCAIPResponseTests {
    @Test func okResponse() {
        let bytes = SCAIPParser.response(reference: "ab12cd34", ok: true)
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"<?xml version="1.0" encoding="UTF-8"?><mrs><ref>ab12cd34</ref><snu>0</snu></mrs>"#)
    }

    @Test func failureResponse() {
        let bytes = SCAIPParser.response(reference: "ab12cd34", ok: false)
        #expect(String(decoding: bytes, as: UTF8.self).hasSuffix("<mrs><ref>ab12cd34</ref><snu>1</snu></mrs>"))
    }

    @Test func referenceIsEscaped() throws {
        let reference = #"a<b>&"c'"#
        let text = String(decoding: SCAIPParser.response(reference: reference, ok: true), as: UTF8.self)
        #expect(text.hasSuffix("<mrs><ref>a&lt;b&gt;&amp;&quot;c&apos;</ref><snu>0</snu></mrs>"))
        let reader = try #require(SCAIPResponseReader.read(SCAIPParser.response(reference: reference, ok: true)))
        #expect(reader.elements == ["mrs", "ref", "snu"])
        #expect(reader.texts["ref"] == reference)
        #expect(reader.texts["snu"] == "0")
    }

    @Test func charactersXMLCannotCarryAreReplaced() throws {
        let bytes = SCAIPParser.response(reference: "a\u{0}b\u{1B}c\u{FFFF}d\te", ok: true)
        let reader = try #require(SCAIPResponseReader.read(bytes))
        #expect(reader.texts["ref"] == "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\te")
    }

    @Test func responseToAParsedRequestEchoesItsReference() throws {
        let message = try scaipParse(scaipDocument(ref: "<ref>x&amp;y</ref>"))
        let reader = try #require(SCAIPResponseReader.read(SCAIPParser.response(reference: message.reference, ok: true)))
        #expect(reader.texts["ref"] == "x&y")
    }
}
