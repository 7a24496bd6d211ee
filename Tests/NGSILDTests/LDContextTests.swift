import Models
import NGSILD
import Testing

/// Names and IRIs: what a term, a compact IRI, an absolute IRI and an unknown name expand to, and back.
@Suite struct LDContextTests {
    static let vocabulary = OpenVocabulary(catalogue: try! Catalogue.loadDefault())

    @Test func termsExpandToTheirIRIsAndBack() {
        let context = Self.vocabulary.context
        #expect(context.expand("Device") == "https://smartdatamodels.org/dataModel.Device/Device")
        #expect(context.expand("temperature") == "https://smartdatamodels.org/temperature")
        #expect(context.expand("location") == "https://uri.etsi.org/ngsi-ld/location")
        #expect(context.expand("https://smartdatamodels.org/temperature") == "https://smartdatamodels.org/temperature")
        #expect(context.expand("ngsi-ld:location") == "https://uri.etsi.org/ngsi-ld/location")
        #expect(context.expand("Nonsense") == "https://uri.etsi.org/ngsi-ld/default-context/Nonsense")
        #expect(context.compact("https://smartdatamodels.org/temperature") == "temperature")
        #expect(context.compact("https://uri.etsi.org/ngsi-ld/default-context/Nonsense") == "Nonsense")
        #expect(context.compact("urn:other:thing") == "urn:other:thing")
    }

    @Test func theCoreAloneLeavesCityTermsInTheDefaultVocabulary() {
        #expect(LDContext.core.expand("temperature") == LDContext.defaultVocabulary + "temperature")
        #expect(LDContext.core.compact("https://smartdatamodels.org/temperature") == "https://smartdatamodels.org/temperature")
    }

    @Test func everyOpenQuantityHasATermInTheCityContext() {
        for (iri, quantity) in Self.vocabulary.openQuantities {
            let name = quantity.ngsiLd?.property ?? quantity.id
            #expect(Self.vocabulary.cityTerms.expand(name) == iri, "\(quantity.id)")
            #expect(Self.vocabulary.quantity(iri: iri) == quantity)
        }
        #expect(!Self.vocabulary.openQuantities.isEmpty)
        // position is the core's location and never an open quantity.
        #expect(Self.vocabulary.quantity(iri: OpenVocabulary.location) == nil)
    }

    @Test func absoluteIRIsAreToldFromNames() {
        for iri in ["urn:ngsi-ld:Building:b1", "https://example.org/x", "a+b.c-d:x"] { #expect(LDContext.isAbsoluteIRI(iri), "\(iri)") }
        for name in ["temperature", ":x", "1a:b", "a b:c", "urn:", "ab:c d", "x:<y>"] { #expect(!LDContext.isAbsoluteIRI(name), "\(name)") }
    }

    @Test func theContextDocumentsAreJSONLDWithEveryTerm() throws {
        let document = Self.vocabulary.cityTerms.document(importing: ["http://gw/core.jsonld"])
        let parsed = try JSON.parse(Array(document.utf8))
        let contexts = try #require(parsed["@context"]?.arrayValue)
        #expect(contexts.first == .string("http://gw/core.jsonld"))
        #expect(contexts.last?["temperature"] == .string("https://smartdatamodels.org/temperature"))
        let core = try JSON.parse(Array(LDContext.core.document().utf8))
        #expect(core["@context"]?["id"] == .string("@id"))
        #expect(core["@context"]?["@vocab"] == .string(LDContext.defaultVocabulary))
        #expect(core["@context"]?["value"] == .string("https://uri.etsi.org/ngsi-ld/hasValue"))
    }
}
