/// Array literals for array parameters (`$1::text[]`, `$2::bigint[]`), so that many rows go to the server in one
/// statement.
public enum PostgresArray {
    /// `{"a","b",NULL}`: every element quoted, `"` and `\` escaped.
    public static func text<T: PostgresBindable>(_ values: [T?]) -> String {
        // Built as UTF-8 bytes: the two escaped characters are ASCII, so no multi-byte character is split.
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(2 + values.count * 16)
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard let value else {
                out += "NULL".utf8
                continue
            }
            out.append(UInt8(ascii: "\""))
            for byte in value.postgresText.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    public static func text<T: PostgresBindable>(_ values: [T]) -> String { text(values.map(Optional.some)) }
}
