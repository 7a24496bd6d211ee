/// SQL fragments the repositories share.
public enum PostgresSQL {
    /// A timestamptz expression as whole microseconds since 1970, the unit every Swift type here uses.
    public static func epochMicros(_ expression: String) -> String {
        "(extract(epoch FROM \(expression)) * 1000000)::bigint"
    }

    /// A timestamptz from whole microseconds since 1970, exactly (`to_timestamp` goes through a double and can be
    /// off by a microsecond, which would make a stored time differ from the one it was made from).
    public static func timestamp(micros expression: String) -> String {
        "(timestamptz 'epoch' + (\(expression)) * interval '1 microsecond')"
    }
}
