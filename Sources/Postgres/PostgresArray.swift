/// Array literals for array parameters (`$1::text[]`, `$2::bigint[]`), so that many rows go to the server in one
/// statement.
public enum PostgresArray {
    /// `{"a","b",NULL}`: every element quoted, `"` and `\` escaped.
    public static func text<T: PostgresBindable>(_ values: [T?]) -> String {
        var out = "{"
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            guard let value else {
                out += "NULL"
                continue
            }
            out += "\""
            for character in value.postgresText.unicodeScalars {
                if character == "\"" || character == "\\" { out += "\\" }
                out.unicodeScalars.append(character)
            }
            out += "\""
        }
        return out + "}"
    }

    public static func text<T: PostgresBindable>(_ values: [T]) -> String { text(values.map(Optional.some)) }
}
