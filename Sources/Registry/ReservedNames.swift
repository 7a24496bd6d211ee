/// Names a device can never have: the broker's fixed accounts and everything with the reserved prefix.
///
/// A device id becomes a broker user name (and its client id), so a device named like a fixed account would,
/// when claimed, replace that account (its password, its role), and, as a client id, could take over that
/// account's sessions. The registry refuses such ids wherever an id enters (API registration, JSON and CSV
/// import, the CLI), onboarding refuses to provision one that got into the database some other way, and the
/// broker control refuses any dynamic-security command that names one (the last line of defence).
///
/// The comparison ignores case, so `CIP-Gateway` or `Bootstrap` are refused too: broker user names are
/// case-sensitive, but look-alikes of operator accounts have no business in a fleet.
public enum ReservedNames {
    /// The fixed broker accounts (Gateway/stack creates them; `cip-admin` administers dynamic security).
    public static let accounts: Set<String> = ["cip-gateway", "cip-bridge", "cip-admin", "bootstrap"]
    /// Every name with this prefix is kept for the platform's own accounts, present and future.
    public static let prefix = "cip-"
    /// Roles of the fixed accounts (and dynamic security's own `admin` role of `cip-admin`).
    public static let roles: Set<String> = ["cip-gateway", "cip-bridge", "bootstrap", "admin"]

    /// Whether `name` is a fixed account or carries the reserved prefix.
    public static func isReserved(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return accounts.contains(lowered) || lowered.hasPrefix(prefix)
    }

    /// Why `deviceId` cannot be used, or nil.
    public static func problem(deviceId: String) -> String? {
        guard isReserved(deviceId) else { return nil }
        return "device_id '\(deviceId)' is reserved: the broker accounts \(accounts.sorted().joined(separator: ", ")) "
            + "and every name beginning with '\(prefix)' cannot be device ids"
    }
}
