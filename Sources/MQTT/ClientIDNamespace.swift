/// Client ids belong to accounts: the broker (Gateway/mosquitto/cip_clientid.c) accepts a connection with user
/// name U only if its client id is U or begins with "U/". So no account can use, and thereby kick, a client id of
/// another account: the gateway's persistent session `cip-gateway/ingest` is the gateway's alone, a device's
/// client id (its device id) is the device's alone.
public enum ClientIDNamespace {
    /// Whether the broker lets `username` connect with `clientID`.
    public static func owns(_ username: String, _ clientID: String) -> Bool {
        guard !username.isEmpty, clientID.hasPrefix(username) else { return false }
        let rest = clientID.utf8.dropFirst(username.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }

    /// `clientID` as it must be for `username`: unchanged when the account already owns it (or there is no user
    /// name), else `<username>/<clientID>`.
    public static func qualify(_ clientID: String, for username: String?) -> String {
        guard let username, !username.isEmpty, !owns(username, clientID) else { return clientID }
        return "\(username)/\(clientID)"
    }
}
