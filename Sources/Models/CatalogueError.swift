/// Why a catalogue could not be loaded: one or more precise problems, each naming the file,
/// the entry and the field.
///
/// `description` lists the issues one per line, e.g.
///
///     DataModels/catalogue/quantities.json: quantity "battery": field "classification.confidentiality": must be 1, 2 or 3, got 4
///
/// File paths are relative to the parent of the DataModels directory, so they start with the
/// directory's own name (`DataModels/...`).
public struct CatalogueError: Error, CustomStringConvertible, Sendable, Equatable {
    /// One problem in one place.
    public struct Issue: Sendable, Equatable, Hashable, CustomStringConvertible {
        /// The file, e.g. `DataModels/device-types/digital-lock.json`.
        public var file: String
        /// The entry, e.g. `quantity "battery"`, `device type "digital-lock"` or, when an entry has
        /// no usable id, its position such as `quantities[3]` (0-based); nil for file-level problems.
        public var entry: String?
        /// The field path inside the entry, e.g. `classification.confidentiality` or `quantities[2]`;
        /// nil when the problem is not about one field.
        public var field: String?
        /// What is wrong.
        public var message: String

        public init(file: String, entry: String? = nil, field: String? = nil, message: String) {
            self.file = file
            self.entry = entry
            self.field = field
            self.message = message
        }

        public var description: String {
            var parts = [file]
            if let entry { parts.append(entry) }
            if let field { parts.append("field \"\(field)\"") }
            parts.append(message)
            return parts.joined(separator: ": ")
        }
    }

    /// Every problem found, in file order; never empty.
    public var issues: [Issue]

    public init(issues: [Issue]) {
        precondition(!issues.isEmpty, "a CatalogueError needs at least one issue")
        self.issues = issues
    }

    public init(_ issue: Issue) {
        self.issues = [issue]
    }

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}
