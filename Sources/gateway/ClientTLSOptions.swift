import ArgumentParser
import Foundation
import GatewayClient
import GatewayTLS

/// How a command reaches a node over HTTPS: the department's TLS client identity and the node certificates it pins.
struct ClientTLSOptions: ParsableArguments {
    @Option(help: "The department's TLS client certificate (PEM), registered in the departments file. Env: DATAGATEWAY_CLIENT_CERTIFICATE.")
    var clientCertificate: String?

    @Option(help: "Its private key (PEM). Env: DATAGATEWAY_CLIENT_KEY.")
    var clientKey: String?

    @Option(help: "A node's TLS certificate to trust (PEM; repeat for several): the node's <data-dir>/tls-cert.pem or its member entry.")
    var serverCertificate: [String] = []

    /// The client's TLS settings for `url`; nil for an http:// URL. `trusted` adds certificates known otherwise (a genesis).
    func clientTLS(for url: String, trusting trusted: [String] = []) throws -> ClientTLS? {
        guard url.hasPrefix("https://") else { return nil }
        let environment = ProcessInfo.processInfo.environment
        let identity: TLSIdentity?
        switch (clientCertificate ?? environment["DATAGATEWAY_CLIENT_CERTIFICATE"], clientKey ?? environment["DATAGATEWAY_CLIENT_KEY"]) {
        case (let certificate?, let key?):
            do { identity = try TLSIdentity.load(certificate: URL(fileURLWithPath: certificate), key: URL(fileURLWithPath: key)) } catch {
                throw CommandFailure("\(error)")
            }
        case (nil, nil): identity = nil
        default: throw CommandFailure("give both --client-certificate and --client-key, or neither")
        }
        var certificates = trusted
        for path in serverCertificate {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else {
                throw CommandFailure("cannot read the node certificate \(path): copy the node's <data-dir>/tls-cert.pem here")
            }
            certificates.append(String(decoding: data, as: UTF8.self))
        }
        guard !certificates.isEmpty else {
            throw CommandFailure("\(url) is HTTPS: give --server-certificate with the node's tls-cert.pem (nodes pin certificates; there is no CA)")
        }
        return ClientTLS(identity: identity, trusting: certificates)
    }
}
