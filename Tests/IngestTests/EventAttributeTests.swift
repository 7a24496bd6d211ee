import Foundation
import Models
import Testing
@testable import Ingest

/// `eventAttributes` of a vendor mapping: the facts a lock's event carries (its number, the staff credential, the
/// command it answers), each classified, read from the payload as text, and kept only on events classed as high.
@Suite struct EventAttributeTests {
    static let dataModels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("DataModels")

    static func nordlock() throws -> VendorMapper {
        let mappings = try VendorMapping.loadAll(from: dataModels.appendingPathComponent("mappings"))
        let mapping = try #require(mappings.first { $0.id == "nordlock-nl200" })
        return VendorMapper(mapping: mapping, canonicalUnit: { $0 == "battery_voltage" ? "V" : nil })
    }

    static func normalize(_ payload: String) throws -> NormalizedPayload {
        let normalizer = try CatalogueNormalizer(catalogue: Catalogue.load(from: dataModels),
                                                 mappings: VendorMapping.loadAll(from: dataModels.appendingPathComponent("mappings")))
        return try normalizer.normalize(deviceType: "digital-lock", model: "nordlock-nl200", format: .vendorJSON,
                                        payload: Array(payload.utf8), receivedAt: 1_714_557_700)
    }

    static func error(_ json: String) -> VendorMappingError? {
        do { _ = try VendorMapping.decode(Array(json.utf8), file: "x.json"); return nil } catch { return error }
    }

    @Test("an unlock by a staff card carries its event number and the staff reference")
    func unlockCarriesSequenceAndStaff() throws {
        let result = try Self.nordlock().map(Array("""
            {"ts":1714557600000,"seq":17,"evt":"UNLOCK","lock":{"state":"UNLOCKED","by":"CARD","staff":"staff-7"},"power":{"mv":3600}}
            """.utf8), receivedAt: 1_714_557_700)
        #expect(result.issues.isEmpty)
        #expect(result.events.map(\.event) == ["unlocked"])
        #expect(result.events.first?.attributes == [
            MappedAttribute(name: "sequence", value: "17", confidentiality: 2),
            MappedAttribute(name: "staffRef", value: "staff-7", confidentiality: 3),
        ])
    }

    @Test("a command answer maps its result through the attribute's map; an unmapped result is an issue, the event stays")
    func commandAnswer() throws {
        let mapper = try Self.nordlock()
        let ok = try mapper.map(Array(#"{"ts":1714557600000,"seq":3,"evt":"CMD","cmd":{"id":"c-1","result":"OK"},"lock":{"state":"UNLOCKED"},"power":{"mv":3600}}"#.utf8),
                                receivedAt: 1_714_557_700)
        #expect(ok.events.map(\.event) == ["command_result"])
        #expect(Dictionary(uniqueKeysWithValues: ok.events[0].attributes.map { ($0.name, $0.value) })
                == ["sequence": "3", "commandId": "c-1", "result": "succeeded"])
        let odd = try mapper.map(Array(#"{"ts":1714557600000,"evt":"CMD","cmd":{"id":"c-2","result":"MAYBE","reason":{"x":1}},"lock":{"state":"LOCKED"},"power":{"mv":3600}}"#.utf8),
                                 receivedAt: 1_714_557_700)
        #expect(odd.events.map(\.event) == ["command_result"])
        #expect(odd.events[0].attributes.map(\.name) == ["commandId"])
        #expect(odd.issues.map(\.path).sorted() == ["/cmd/reason", "/cmd/result"], "\(odd.issues)")
    }

    @Test("a staff reference that is a personal identity number, or a value of 201 characters, is an issue and not stored")
    func hostileAttributes() throws {
        let mapper = try Self.nordlock()
        let pin = try mapper.map(Array(#"{"ts":1714557600000,"seq":5,"evt":"UNLOCK","lock":{"state":"UNLOCKED","by":"CARD","staff":"19121212-1212"},"power":{"mv":3600}}"#.utf8),
                                 receivedAt: 1_714_557_700)
        #expect(pin.events.first?.attributes.map(\.name) == ["sequence"])
        #expect(pin.issues.map(\.path) == ["/lock/staff"], "\(pin.issues)")
        let long = String(repeating: "e\u{301}", count: 101)  // 202 scalars, 101 characters
        let huge = try mapper.map(Array(#"{"ts":1714557600000,"evt":"CMD","cmd":{"id":"c","result":"FAILED","reason":"\#(long)"},"lock":{"state":"LOCKED"},"power":{"mv":3600}}"#.utf8),
                                  receivedAt: 1_714_557_700)
        let names = huge.events.first?.attributes.map(\.name) ?? []
        #expect(names == ["commandId", "result"])
        #expect(huge.issues.map(\.path) == ["/cmd/reason"], "\(huge.issues)")
    }

    @Test("a class-3 attribute never travels with a class-2 event (tamper), but does with the class-3 unlock")
    func classificationFiltersAttributes() throws {
        let result = try Self.normalize("""
            {"ts":1714557600000,"seq":9,"evt":"UNLOCK","alarm":"TAMPER","lock":{"state":"UNLOCKED","by":"CARD","staff":"staff-7"},"power":{"mv":3600}}
            """)
        let byEvent = Dictionary(uniqueKeysWithValues: result.events.map { ($0.event, $0.attributes) })
        #expect(byEvent["tamper"] == ["sequence": "9"])
        #expect(byEvent["unlocked"] == ["sequence": "9", "staffRef": "staff-7"])
    }

    @Test("bad eventAttributes are refused with the field named", arguments: [
        (#""eventAttributes":{"staffRef":{"pointer":"/s"}}"#, "eventAttributes.staffRef.confidentiality"),
        (#""eventAttributes":{"staffRef":{"pointer":"/s","confidentiality":4}}"#, "eventAttributes.staffRef.confidentiality"),
        (#""eventAttributes":{"Staff-ref":{"pointer":"/s","confidentiality":3}}"#, "eventAttributes.Staff-ref"),
        (#""eventAttributes":{"staffRef":{"pointer":"/s","confidentiality":3,"optinal":true}}"#, "eventAttributes.staffRef.optinal"),
        (#""eventAttributes":["staffRef"]"#, "eventAttributes"),
    ])
    func badAttributes(fragment: String, field: String) {
        let json = #"{"version":1,"id":"x","vendor":"V","model":"M","deviceType":"digital-lock","events":[{"pointer":"/e","equals":"U","event":"unlocked"}],"#
            + fragment + "}"
        #expect(Self.error(json)?.field == field, "\(String(describing: Self.error(json)))")
    }

    @Test("attributes need an event to travel with")
    func attributesWithoutEvents() {
        let json = #"{"version":1,"id":"x","vendor":"V","model":"M","deviceType":"digital-lock","values":[{"pointer":"/b","quantity":"battery"}],"eventAttributes":{"sequence":{"pointer":"/seq","confidentiality":2}}}"#
        #expect(Self.error(json)?.field == "eventAttributes")
    }
}
