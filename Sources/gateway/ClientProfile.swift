import Foundation
import GatewayClient
import GatewayCrypto
import GatewaySchema
import GatewayTLS

/// A department's client profile (client.json, written by `gateway init`): where its node is and what it signs and
/// connects with. Relative paths are relative to the profile's directory.
struct ClientProfile {
    let url: String
    let department: String
    let suite: SuiteName
    let key: URL
    let clientCertificate: URL?
    let clientKey: URL?
    let serverCertificate: URL?

    static func load(_ profilePath: String) throws -> ClientProfile {
        let file = URL(fileURLWithPath: profilePath).standardizedFileURL
        guard let data = try? Data(contentsOf: file), data.count <= 64 * 1024, let object = (try? JSONValue.parse(data))?.objectValue else {
            throw CommandFailure("cannot read the client profile \(file.path): give the client.json `gateway init` wrote")
        }
        let known: Set = ["url", "department", "suite", "key", "clientCertificate", "clientKey", "serverCertificate"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw CommandFailure("\(file.path): unknown key \"\(unknown.prefix(64))\"; the keys are \(known.sorted().joined(separator: ", "))")
        }
        func text(_ key: String) throws -> String {
            guard let value = object[key]?.stringValue else { throw CommandFailure("\(file.path): \"\(key)\" must be a string") }
            return value
        }
        func path(_ key: String) throws -> URL? {
            guard object[key] != nil else { return nil }
            let value = try text(key)
            return value.hasPrefix("/") ? URL(fileURLWithPath: value) : file.deletingLastPathComponent().appendingPathComponent(value)
        }
        guard let suite = SuiteName(rawValue: try text("suite")) else { throw CommandFailure("\(file.path): \"suite\" must be sm or intl") }
        guard let key = try path("key") else { throw CommandFailure("\(file.path): \"key\" is required") }
        return ClientProfile(
            url: try text("url"), department: try text("department"), suite: suite, key: key, clientCertificate: try path("clientCertificate"),
            clientKey: try path("clientKey"), serverCertificate: try path("serverCertificate"))
    }

    /// A client as the profile's department; `url` replaces the profile's (a node moved or started on another port).
    func client(role: String?, url override: String? = nil) throws -> GatewayClient {
        let url = override ?? url
        let implementation = try suite.makeSuite()
        let signingKey: any SigningKey
        do { signingKey = try implementation.signingKey(pem: String(decoding: try Data(contentsOf: key), as: UTF8.self)) } catch {
            throw CommandFailure("cannot read a \(suite.rawValue) private key from \(key.path): \(error)")
        }
        guard url.hasPrefix("https://") else {
            return GatewayClient(baseURL: url, department: department, role: role, key: signingKey, suite: implementation)
        }
        guard let serverCertificate, let pem = try? String(contentsOf: serverCertificate, encoding: .utf8) else {
            throw CommandFailure("the profile's node is HTTPS: its \"serverCertificate\" must name the node's tls-cert.pem")
        }
        var identity: TLSIdentity?
        if let clientCertificate, let clientKey {
            do { identity = try TLSIdentity.load(certificate: clientCertificate, key: clientKey) } catch { throw CommandFailure("\(error)") }
        }
        return try GatewayClient(
            baseURL: url, department: department, role: role, key: signingKey, suite: implementation,
            tls: ClientTLS(identity: identity, trusting: [pem]))
    }
}
