/// Small edits of libpq connection strings.
public enum PostgresURL {
    /// The same connection string pointing at another database: URIs get a new path, key=value strings a
    /// `dbname` that overrides theirs.
    public static func withDatabase(_ url: String, _ database: String) -> String {
        for scheme in ["postgresql://", "postgres://"] where url.hasPrefix(scheme) {
            let rest = url.dropFirst(scheme.count)
            let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
            let authority = rest[..<queryStart].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]
            return scheme + authority + "/" + database + rest[queryStart...]
        }
        return url + " dbname=" + database
    }
}
