import GatewayNode
import GatewayTLS
import GatewayWire
import Hummingbird
import NIOConcurrencyHelpers
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
        return PeerPins.shared.pin(ofCertificateDER: der)
    }

    /// The authenticated principal; routes behind the authenticator can rely on it.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw ProblemError(.missingSignature, "request is not signed") }
        return principal
    }
}

/// Pins of the client certificates seen lately, by their DER bytes: a keep-alive connection presents the same
/// certificate on every request, and parsing and hashing it each time cost about 1 % of a signed read. Bounded: the
/// table is emptied when it reaches `capacity` entries, so hostile clients with fresh certificates only cost misses.
final class PeerPins: Sendable {
    static let shared = PeerPins(capacity: 256)

    let capacity: Int
    let pins = NIOLockedValueBox<[[UInt8]: String]>([:])

    init(capacity: Int) { self.capacity = capacity }

    func pin(ofCertificateDER der: [UInt8]) -> String? {
        if let known = pins.withLockedValue({ $0[der] }) { return known }
        guard let pin = try? TLSIdentity.pin(ofCertificateDER: der) else { return nil }
        pins.withLockedValue { pins in
            if pins.count >= capacity { pins.removeAll(keepingCapacity: true) }
            pins[der] = pin
        }
        return pin
    }
}
