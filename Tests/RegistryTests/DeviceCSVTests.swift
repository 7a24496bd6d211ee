import Foundation
import Testing

@testable import Models
@testable import Registry

@Suite struct DeviceCSVTests {
    static let types: Set<String> = ["digital-lock", "gps-alarm", "safety-alarm", "sensor"]
    static let header = "device_id,serial_number,type,vendor,model,firmware_version,tenant,placement,care_recipient_ref,tags"

    func parse(_ text: String, limits: DeviceCSV.Limits = .default) throws -> ImportReport {
        try DeviceCSV.parse(text, knownTypes: Self.types, limits: limits)
    }

    func csvError(_ text: String, limits: DeviceCSV.Limits = .default) -> DeviceCSVError? {
        do {
            _ = try DeviceCSV.parse(text, knownTypes: Self.types, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    /// The single rejection of a one-row file with the minimal header.
    func rejection(_ row: String) throws -> ImportRejection? {
        let report = try parse("device_id,serial_number,type,tenant,care_recipient_ref\n" + row + "\n")
        #expect(report.rowCount == 1)
        return report.rejected.first
    }

    // MARK: Happy path and CSV syntax

    @Test func parsesAFullRow() throws {
        let report = try parse(Self.header + "\nlock-0001,SN-A1,digital-lock,Acme,L1,2.1.0,elderly-care,Storgatan 1,cr-8f3a,door;floor-2\n")
        #expect(report.rejected == [])
        #expect(report.accepted == [ImportedRow(line: 2, row: DeviceImportRow(
            deviceId: "lock-0001", serialNumber: "SN-A1", type: "digital-lock", vendor: "Acme", model: "L1",
            firmwareVersion: "2.1.0", tenant: "elderly-care", placement: "Storgatan 1", careRecipientRef: "cr-8f3a",
            tags: ["door", "floor-2"]))])
        #expect(report.isClean)
    }

    @Test func emptyOptionalFieldsAreNilAndTagsAreCleaned() throws {
        let report = try parse(Self.header + "\nlock-1,SN1,digital-lock,,,,elderly-care,,, a ; ;b;a \n")
        let row = try #require(report.accepted.first?.row)
        #expect(row.vendor == nil && row.model == nil && row.firmwareVersion == nil)
        #expect(row.placement == nil && row.careRecipientRef == nil)
        #expect(row.tags == ["a", "b"])
    }

    @Test func quotedFieldsWithCommasQuotesAndNewlines() throws {
        let text = Self.header + "\n"
            + "lock-1,SN1,digital-lock,\"Acme, Inc.\",\"The \"\"Big\"\" One\",1.0,elderly-care,\"Storgatan 1\nLGH 1102\",cr-1,\n"
            + "lock-2,SN2,digital-lock,,,,elderly-care,,,\n"
        let report = try parse(text)
        #expect(report.rejected == [])
        #expect(report.accepted.count == 2)
        #expect(report.accepted[0].row.vendor == "Acme, Inc.")
        #expect(report.accepted[0].row.model == "The \"Big\" One")
        #expect(report.accepted[0].row.placement == "Storgatan 1\nLGH 1102")
        #expect(report.accepted[0].line == 2)
        #expect(report.accepted[1].line == 4)  // the quoted newline took a line
    }

    @Test func crlfLineEndings() throws {
        let text = "device_id,serial_number,type,tenant,placement\r\nlock-1,SN1,digital-lock,t1,\"a\r\nb\"\r\nlock-2,SN2,gps-alarm,t1,x\r\n"
        let report = try parse(text)
        #expect(report.rejected == [])
        #expect(report.accepted.map(\.line) == [2, 4])
        #expect(report.accepted[0].row.placement == "a\r\nb")
        #expect(report.accepted[1].row.tenant == "t1")
        #expect(report.accepted[1].row.placement == "x")
    }

    @Test func lastRowWithoutNewlineAndBlankLinesAndBOM() throws {
        let text = "\u{FEFF}device_id,serial_number,type,tenant\n\nlock-1,SN1,sensor,t\n\n\nlock-2,SN2,sensor,t"
        let report = try parse(text)
        #expect(report.accepted.map(\.line) == [3, 6])
        #expect(report.accepted.map(\.row.deviceId) == ["lock-1", "lock-2"])
    }

    @Test func headerInAnyOrderAndAnyCase() throws {
        let report = try parse("Tenant, TYPE ,serial_number,device_id\nhome-care,gps-alarm,SN9,gps-9\n")
        #expect(report.accepted.first?.row == DeviceImportRow(deviceId: "gps-9", serialNumber: "SN9", type: "gps-alarm", tenant: "home-care"))
    }

    @Test func blanksAroundQuotedFieldsAreTolerated() throws {
        let report = try parse("device_id, serial_number, type, tenant\nlock-1, \"SN,1\" , sensor, t\n")
        #expect(report.accepted.first?.row.serialNumber == "SN,1")
    }

    @Test func nonASCIITextSurvives() throws {
        let report = try parse("device_id,serial_number,type,tenant,placement\nlock-1,SN1,sensor,Äldreomsorg Söder,Vårdboende Ängen\n")
        #expect(report.accepted.first?.row.tenant == "Äldreomsorg Söder")
        #expect(report.accepted.first?.row.placement == "Vårdboende Ängen")
    }

    // MARK: Whole-file errors

    @Test func headerErrors() {
        #expect(csvError("") == .missingHeader)
        #expect(csvError("\n\r\n") == .missingHeader)
        #expect(csvError("device_id,serial_number,type,tenant,colour,size\n") == .unknownColumns(["colour", "size"]))
        #expect(csvError("device_id,serial_number,type,tenant,type\n") == .duplicateColumn("type"))
        #expect(csvError("device_id,type\n") == .missingRequiredColumns(["serial_number", "tenant"]))
        #expect(csvError("device_id,,type\n") == .emptyColumnName(position: 2))
        #expect(DeviceCSVError.unknownColumns(["colour"]).description.contains("'colour'"))
    }

    @Test func quoteErrors() {
        #expect(csvError("device_id,serial_number,type,tenant\nlock-1,SN\"1,sensor,t\n") == .unexpectedQuote(line: 2))
        #expect(csvError("device_id,serial_number,type,tenant\nlock-1,\"SN1\"x,sensor,t\n") == .unexpectedQuote(line: 2))
        #expect(csvError("device_id,serial_number,type,tenant\nlock-1,SN1,sensor,t\nlock-2,\"SN2,sensor,t\n") == .unterminatedQuote(line: 3))
    }

    @Test func invalidUTF8() {
        var bytes = Array("device_id,serial_number,type,tenant\nlock-1,SN1,sensor,".utf8)
        bytes += [0xC3, 0x28, 0x0A]
        #expect(throws: DeviceCSVError.invalidUTF8(line: 2)) {
            try DeviceCSV.parse(bytes, knownTypes: Self.types)
        }
    }

    @Test func limits() {
        let head = "device_id,serial_number,type,tenant\n"
        let small = DeviceCSV.Limits(maxRows: 2, maxFieldBytes: 16, maxLineBytes: 40)
        #expect(csvError(head + "a,1,sensor,t\nb,2,sensor,t\n", limits: small) == nil)
        #expect(csvError(head + "a,1,sensor,t\nb,2,sensor,t\nc,3,sensor,t\n", limits: small) == .tooManyRows(limit: 2))
        #expect(csvError(head + "a,1,sensor,t\nb,12345678901234567,sensor,t\n", limits: small) == .fieldTooLong(line: 3, limit: 16))
        #expect(csvError(head + "a,1,sensor,\"12345678901234567\"\n", limits: small) == .fieldTooLong(line: 2, limit: 16))
        #expect(csvError(head + "a,1,sensor,t,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n", limits: small) == .lineTooLong(line: 2, limit: 40))
        // Defaults: 1 KiB fields, 8 KiB lines.
        let longField = String(repeating: "x", count: 1025)
        #expect(csvError(head + "a,1,sensor,\(longField)\n") == .fieldTooLong(line: 2, limit: 1024))
        #expect(csvError(head + "a,1,sensor,\(String(repeating: "x", count: 1024))\n") == nil)
        let longLine = "a,1,sensor,t" + String(repeating: ",", count: 8200)
        #expect(csvError(head + longLine + "\n") == .lineTooLong(line: 2, limit: 8192))
    }

    @Test func defaultRowLimitIs100000() throws {
        var text = "device_id,serial_number,type,tenant\n"
        text.reserveCapacity(2_000_000)
        for i in 0..<100_001 { text += "d\(i),s\(i),sensor,t\n" }
        #expect(csvError(text) == .tooManyRows(limit: 100_000))
    }

    // MARK: Row rejections

    @Test func requiredFields() throws {
        #expect(try rejection(",SN1,sensor,t,")?.reason == "device_id is required")
        #expect(try rejection("d1,,sensor,t,")?.reason == "serial_number is required")
        #expect(try rejection("d1,SN1,,t,")?.reason == "type is required")
        #expect(try rejection("d1,SN1,sensor,,")?.reason == "tenant is required")
        #expect(try rejection(",,,,")?.reason == "device_id is required; serial_number is required; type is required; tenant is required")
    }

    @Test func deviceIdRules() throws {
        #expect(try rejection("lock 1,SN1,sensor,t,")?.reason
            == "device_id 'lock 1' contains a space; allowed are A-Z, a-z, 0-9, '-', '_', '.', ':'")
        #expect(try rejection("lock/1,SN1,sensor,t,")?.reason.hasPrefix("device_id 'lock/1' contains '/'") == true)
        #expect(try rejection("lås-1,SN1,sensor,t,")?.reason.hasPrefix("device_id 'lås-1' contains U+00E5") == true)
        #expect(try rejection(String(repeating: "a", count: 129) + ",SN1,sensor,t,")?.reason
            == "device_id is 129 bytes long; at most 128 allowed")
        #expect(try rejection(String(repeating: "a", count: 128) + ",SN1,sensor,t,") == nil)
        #expect(try rejection("urn:dev.lock_1-A,SN1,sensor,t,") == nil)
    }

    @Test func serialRules() throws {
        #expect(try rejection("d1," + String(repeating: "S", count: 65) + ",sensor,t,")?.reason
            == "serial_number is 65 bytes long; at most 64 allowed")
        #expect(try rejection("d1," + String(repeating: "S", count: 64) + ",sensor,t,") == nil)
        #expect(try rejection("d1,SNé,sensor,t,")?.reason == "serial_number 'SNé' contains U+00E9; only printable ASCII allowed")
        #expect(try rejection("d1,SN+1,sensor,t,")?.reason == "serial_number 'SN+1' contains '+', which cannot appear in an MQTT topic level")
        #expect(try rejection("d1,\"SN\u{7}1\",sensor,t,")?.reason.contains("U+0007") == true)
        #expect(try rejection("d1,\"S/N !~\",sensor,t,")?.reason.contains("'/'") == true)
        #expect(try rejection("d1,SN !~1,sensor,t,") == nil)
    }

    @Test func unknownTypeListsKnownTypes() throws {
        #expect(try rejection("d1,SN1,smart-toaster,t,")?.reason
            == "unknown type 'smart-toaster'; known types: digital-lock, gps-alarm, safety-alarm, sensor")
        #expect(try rejection("d1,SN1,Digital-Lock,t,")?.reason.hasPrefix("unknown type 'Digital-Lock'") == true)
    }

    @Test func fieldCountMismatch() throws {
        let report = try parse("device_id,serial_number,type,tenant\nd1,SN1,sensor\nd2,SN2,sensor,t,extra\nd3,SN3,sensor,t\n")
        #expect(report.rejected == [
            ImportRejection(line: 2, deviceId: "d1", reason: "expected 4 fields as in the header, found 3"),
            ImportRejection(line: 3, deviceId: "d2", reason: "expected 4 fields as in the header, found 5"),
        ])
        #expect(report.accepted.map(\.line) == [4])
    }

    @Test func duplicatesNameTheFirstLine() throws {
        let text = """
            device_id,serial_number,type,tenant,placement
            d1,SN1,sensor,t,"two
            lines"
            d2,SN2,sensor,t,
            d1,SN3,sensor,t,
            d4,SN2,sensor,t,
            d1,SN2,sensor,t,

            """
        let report = try parse(text)
        #expect(report.accepted.map(\.line) == [2, 4])
        #expect(report.rejected == [
            ImportRejection(line: 5, deviceId: "d1", reason: "duplicate device_id 'd1' (first on line 2)"),
            ImportRejection(line: 6, deviceId: "d4", reason: "duplicate serial_number 'SN2' (first on line 4)"),
            ImportRejection(line: 7, deviceId: "d1",
                reason: "duplicate device_id 'd1' (first on line 2); duplicate serial_number 'SN2' (first on line 4)"),
        ])
    }

    @Test func duplicateOfARejectedRowStillCounts() throws {
        let report = try parse("device_id,serial_number,type,tenant\nd1,SN1,toaster,t\nd1,SN2,sensor,t\n")
        #expect(report.accepted.isEmpty)
        #expect(report.rejected.map(\.line) == [2, 3])
        #expect(report.rejected[1].reason == "duplicate device_id 'd1' (first on line 2)")
    }

    @Test func controlCharactersAreRejectedExceptLineBreaksInPlacement() throws {
        let report = try parse("device_id,serial_number,type,tenant,vendor,placement,tags\n"
            + "d1,SN1,sensor,\"t\u{1}\",,,\n"
            + "d2,SN2,sensor,t,\"Ac\u{0}me\",,\n"
            + "d3,SN3,sensor,t,,\"a\nb\",\n"
            + "d4,SN4,sensor,t,,,\"x\u{7F};y\"\n")
        #expect(report.rejected.map(\.reason) == [
            "tenant contains a control character",
            "vendor contains a control character",
            "tag 'x\\u{7F}' contains a control character",
        ])
        #expect(report.accepted.map(\.row.deviceId) == ["d3"])
    }

    @Test func rejectionsAndAcceptancesInterleaveWithCorrectLines() throws {
        let report = try parse("device_id,serial_number,type,tenant\r\nok-1,S1,sensor,t\r\nbad 2,S2,sensor,t\r\nok-3,S3,sensor,t\r\n")
        #expect(report.accepted.map(\.line) == [2, 4])
        #expect(report.rejected.map(\.line) == [3])
        #expect(report.rejected.first?.deviceId == "bad 2")
    }

    // MARK: Personal identity numbers

    @Test(arguments: [
        "19121212-1212", "121212-1212", "1212121212", "191212121212", "121212+1212",
        "19121272-1219",  // samordningsnummer (day 12 + 60)
        "198112189876", "811218-9876", "20000229-0005",  // leap day, valid checksum
        "pnr 19121212-1212", "CR-121212-1212-x",
    ])
    func personalIdentityNumbersAreRejected(reference: String) throws {
        #expect(PersonalIdentityNumber.appears(in: reference), "\(reference)")
        #expect(try rejection("d1,SN1,sensor,t,\(reference)")?.reason == DeviceCSV.personalIdentityNumberReason)
    }

    @Test(arguments: [
        "19121212-1213", "121212-1211", "1212121213",  // bad checksum
        "19121312-1212", "19121232-1212",  // month 13, day 32: impossible dates
        "19010229-0000",  // 1901 is not a leap year
        "cr-8f3a-4b21", "CR-000123", "2024-000123", "12121212", "12345", "Anna Andersson",
        "550e8400-e29b-41d4-a716-446655440000", "1212121212121",  // 13 digits
        "21121212-1212",  // century 21
    ])
    func pseudonymousReferencesAreAccepted(reference: String) throws {
        #expect(!PersonalIdentityNumber.appears(in: reference), "\(reference)")
        #expect(try rejection("d1,SN1,sensor,t,\(reference)") == nil)
    }

    @Test func luhnAndDatesDirectly() {
        #expect(PersonalIdentityNumber.luhnValid([1, 2, 1, 2, 1, 2, 1, 2, 1, 2]))
        #expect(!PersonalIdentityNumber.luhnValid([1, 2, 1, 2, 1, 2, 1, 2, 1, 3]))
        #expect(PersonalIdentityNumber.isValid(digits: Array("8112189876".utf8)))
        #expect(!PersonalIdentityNumber.isValid(digits: Array("8112189875".utf8)))
        #expect(!PersonalIdentityNumber.isValid(digits: Array("811218987".utf8)))
        // A valid checksum with an impossible date is not flagged: 2023-02-29 does not exist.
        let digits = Self.withCheckDigit("202302291234".prefix(11))
        #expect(PersonalIdentityNumber.luhnValid(digits.suffix(10).map { Int($0 - 48) }))
        #expect(!PersonalIdentityNumber.isValid(digits: digits))
        let leap = Self.withCheckDigit("202402291234".prefix(11))
        #expect(PersonalIdentityNumber.isValid(digits: leap))
    }

    /// Appends the Luhn check digit (over the last 9 of the given digits) to 11 digits.
    static func withCheckDigit(_ prefix: Substring) -> [UInt8] {
        let nine = prefix.suffix(9).map { Int($0.asciiValue! - 48) }
        var sum = 0
        for (i, d) in nine.enumerated() {
            var t = i % 2 == 0 ? d * 2 : d
            if t > 9 { t -= 9 }
            sum += t
        }
        return Array(prefix.utf8) + [UInt8(48 + (10 - sum % 10) % 10)]
    }

    // MARK: Scale

    static func bigFile(rows: Int) -> String {
        var text = header + "\n"
        text.reserveCapacity(rows * 120)
        for i in 0..<rows {
            text += "lock-\(i),SN\(100_000 + i),digital-lock,Acme,L-200,\"1.4.2\",elderly-care,\"Storgatan \(i % 90), lgh \(1000 + i % 300)\",cr-\(String(i, radix: 16)),door;north\n"
        }
        return text
    }

    @Test func tenThousandRows() throws {
        let text = Self.bigFile(rows: 10_000)
        let clock = ContinuousClock()
        var report = ImportReport()
        let elapsed = try clock.measure { report = try parse(text) }
        #expect(report.rejected == [])
        #expect(report.accepted.count == 10_000)
        #expect(report.accepted.last?.line == 10_001)
        #expect(report.accepted.last?.row.placement == "Storgatan \(9999 % 90), lgh \(1000 + 9999 % 300)")
        #expect(Set(report.accepted.map(\.row.serialNumber)).count == 10_000)
        // Generous bound so a debug build on a busy machine passes; release figures are in the report.
        #expect(elapsed < .seconds(5), "\(elapsed)")
    }
}
