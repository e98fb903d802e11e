/// Errors raised while assembling or starting a node: configuration and key material.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
