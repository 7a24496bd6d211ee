/// The parameters of a statement whose text is built with optional parts (filters given or not, a cursor): each
/// value added returns its placeholder, `$1`, `$2`, ..., so text and values cannot fall out of step.
public struct PostgresParameters {
    public private(set) var values: [(any PostgresBindable)?]

    public init(_ values: [(any PostgresBindable)?] = []) { self.values = values }

    /// Adds `value` and returns its placeholder.
    public mutating func add(_ value: (any PostgresBindable)?) -> String {
        values.append(value)
        return "$\(values.count)"
    }
}
