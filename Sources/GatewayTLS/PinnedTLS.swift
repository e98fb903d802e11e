import Foundation
import NIOCore
import NIOSSL
import X509

public enum PinnedTLS {
    /// The peer's leaf certificate is within its validity at `now` and, when `registered` is given, its key's pin is
    /// one it accepts (asked at every handshake, so a change in the member set applies to the next connection): the
    /// pin, or why not.
    public static func check(_ chain: [NIOSSLCertificate], registered: ((String) -> Bool)?, now: Date = Date()) -> Result<String, TLSIdentityError> {
        guard let leaf = chain.first, let der = try? leaf.toDERBytes(), let certificate = try? Certificate(derEncoded: der) else {
            return .failure(TLSIdentityError("no readable certificate"))
        }
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else {
            return .failure(TLSIdentityError("the certificate is outside its validity"))
        }
        guard let pin = try? TLSIdentity.pin(ofCertificateDER: der) else { return .failure(TLSIdentityError("the certificate has no readable key")) }
        // Without `registered`, whose certificate it is gets decided per request, against the registry then.
        guard registered?(pin) ?? true else { return .failure(TLSIdentityError("the certificate's key is not registered")) }
        return .success(pin)
    }

    /// A server that speaks TLS 1.3 only, asks every client for a certificate and accepts connections without one
    /// (citizens' browsers, health checks); a certificate that is presented must be registered and valid, or the
    /// handshake fails. Which department a connection belongs to is decided per request from its certificate.
    public static func serverConfiguration(_ identity: TLSIdentity) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)))
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .optionalVerification
        return configuration
    }

    /// The verification callback for `serverConfiguration` and the consensus links: a presented certificate must be
    /// within its validity and, with `registered`, one it accepts.
    public static func verifier(registered: (@Sendable (String) -> Bool)? = nil, now: @escaping @Sendable () -> Date = Date.init)
        -> @Sendable (
            [NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>
        ) -> Void
    {
        { chain, promise in
            switch check(chain, registered: registered, now: now()) {
            case .success: promise.succeed(.certificateVerified)
            case .failure: promise.succeed(.failed)
            }
        }
    }

    /// A client that trusts exactly the server certificates given (pinned, no CA) and presents `identity`.
    public static func clientConfiguration(identity: TLSIdentity?, trusting serverCertificatesPEM: [String]) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.trustRoots = .certificates(try serverCertificatesPEM.flatMap { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) })
        // The pinned certificate is the trust anchor; its host names are not what identifies the node.
        configuration.certificateVerification = .noHostnameVerification
        if let identity {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem))
        }
        return configuration
    }
}
