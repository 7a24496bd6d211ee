import MQTT
import Testing

/// The client-id rule of the broker plugin (Gateway/mosquitto/cip_clientid.c), as the gateway's tools apply it.
@Suite struct ClientIDNamespaceTests {
    @Test func anAccountOwnsItsNameAndWhatFollowsASlash() {
        #expect(ClientIDNamespace.owns("cip-gateway", "cip-gateway"))
        #expect(ClientIDNamespace.owns("cip-gateway", "cip-gateway/ingest"))
        #expect(!ClientIDNamespace.owns("cip-gateway", "cip-gateway-ingest"))
        #expect(!ClientIDNamespace.owns("bootstrap", "cip-gateway/ingest"))
        #expect(!ClientIDNamespace.owns("lock", "lock-001"))
        #expect(!ClientIDNamespace.owns("", "/x"))
    }

    @Test func qualifyPutsAnIdInTheAccountsNamespace() {
        #expect(ClientIDNamespace.qualify("ingest", for: "cip-gateway") == "cip-gateway/ingest")
        #expect(ClientIDNamespace.qualify("cip-gateway/ingest", for: "cip-gateway") == "cip-gateway/ingest")
        #expect(ClientIDNamespace.qualify("cip-gateway-ingest", for: "cip-gateway") == "cip-gateway/cip-gateway-ingest")
        #expect(ClientIDNamespace.qualify("lock-1", for: "lock-1") == "lock-1")
        #expect(ClientIDNamespace.qualify("x", for: nil) == "x")
    }
}
