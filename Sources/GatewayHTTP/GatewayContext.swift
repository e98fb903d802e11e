import GatewayNode
import GatewayTLS
import GatewayWire
import Hummingbird
import NIOCore
import NIOSSL

/// Per-request context: after `SignatureAuthenticator`, `principal` holds the verified department and `body` the
/// exact bytes that were signed.
package struct GatewayContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package var principal: Principal?
    package var body: ByteBuffer = ByteBuffer()
    /// The connection the request came on (nil in router tests without a server).
    let channel: (any Channel)?

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The pin of the TLS client certificate the connection presented (nil: plain HTTP, or no certificate).
    func peerCertificatePin() async -> String? {
        guard let channel, let certificate = try? await channel.nioSSL_peerCertificate().get(), let der = try? certificate.toDERBytes() else {
            return nil
        }
        return try? TLSIdentity.pin(ofCertificateDER: der)
    }

    /// The authenticated principal; routes behind the authenticator can rely on it.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw ProblemError(.missingSignature, "request is not signed") }
        return principal
    }
}
