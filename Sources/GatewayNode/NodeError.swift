/// Errors raised while assembling or starting a node: configuration and key material.
package struct NodeError: Error, CustomStringConvertible, Sendable {
    package let message: String

    package init(_ message: String) { self.message = message }

    package var description: String { message }
}
