/// An error from libmosquitto, with the library's own explanation.
public struct MQTTError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var operation: String

    public init(code: Int32, message: String, operation: String) {
        self.code = code
        self.message = message
        self.operation = operation
    }

    public var description: String { "MQTT \(operation) failed: \(message) (code \(code))" }
}
