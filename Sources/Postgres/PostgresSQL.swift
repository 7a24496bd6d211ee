/// SQL fragments the repositories share.
public enum PostgresSQL {
    /// A timestamptz expression as whole microseconds since 1970, the unit every Swift type here uses.
    public static func epochMicros(_ expression: String) -> String {
        "(extract(epoch FROM \(expression)) * 1000000)::bigint"
    }
}
