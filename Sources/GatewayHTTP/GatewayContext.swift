import GatewayWire
import GatewayNode
import Hummingbird
import NIOCore

/// Per-request context: after `SignatureAuthenticator`, `principal` holds the verified department and `body` the
/// exact bytes that were signed.
package struct GatewayContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package var principal: Principal?
    package var body: ByteBuffer = ByteBuffer()

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// The authenticated principal; routes behind the authenticator can rely on it.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw ProblemError(.missingSignature, "request is not signed") }
        return principal
    }
}
