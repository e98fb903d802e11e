import Crypto
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// A party's TLS identity: a P-256 key and a self-signed certificate naming the party (a node id or a department).
///
/// There is no consortium CA. Each identity is pinned where the party is registered — a department's entry in the
/// department directory, a node's member entry — by the SHA-256 of its certificate's SubjectPublicKeyInfo
/// (`pin`, "sha256/<base64>", the form of RFC 7469). A connection is accepted when the peer's certificate is within its
/// validity and its key's pin is registered now, so a party removed from the directory or the member set is refused
/// from then on, and nobody holds a key that could mint identities for others. TLS keys are P-256 for both suites:
/// TLS 1.3 in BoringSSL and OpenSSL 3.0 has no SM2 (RFC 8998), so an `sm` deployment signs its requests with SM2
/// inside a standard TLS 1.3 channel.
public struct TLSIdentity: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) throws {
        // Both must parse, and belong together.
        let certificate = try Certificate(pemEncoded: certificatePEM)
        let key = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw TLSIdentityError("the TLS certificate's public key is not the private key's")
        }
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// A fresh key and a self-signed certificate for `name`, valid from an hour ago (clock skew) for `days`, for the
    /// given host names and IP addresses.
    public static func generate(name: String, hosts: [String] = ["localhost", "127.0.0.1"], days: Int = 397, now: Date = Date()) throws
        -> TLSIdentity
    {
        guard !name.isEmpty, name.utf8.count <= 64 else { throw TLSIdentityError("a TLS identity names its party in 1…64 bytes") }
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("DataGateway consortium")
            CommonName(name)
        }
        var alternativeNames: [GeneralName] = []
        for host in hosts {
            if let address = IPv4Address(host) {
                alternativeNames.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address.bytes))))
            } else {
                alternativeNames.append(.dnsName(host))
            }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey), notValidBefore: now - 3_600,
            notValidAfter: now + Double(days) * 86_400, issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // Its own trust anchor: BoringSSL accepts a pinned self-signed certificate as a root only if it is
                // a CA. Path length 0: it can anchor nothing but itself, and servers check clients by the leaf's pin.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(alternativeNames)
            }, issuerPrivateKey: .init(key))
        return try TLSIdentity(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    /// "sha256/<base64>" of the certificate's SubjectPublicKeyInfo: what a directory or member entry registers.
    public var pin: String { (try? Self.pin(ofCertificatePEM: certificatePEM)) ?? "" }

    public static func pin(ofCertificatePEM pem: String) throws -> String {
        try pin(of: try Certificate(pemEncoded: pem))
    }

    public static func pin(ofCertificateDER der: [UInt8]) throws -> String {
        try pin(of: try Certificate(derEncoded: der))
    }

    static func pin(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate.publicKey)
        return "sha256/" + Data(SHA256.hash(data: serializer.serializedBytes)).base64EncodedString()
    }

    /// The name the certificate carries (its common name).
    public var name: String {
        guard let certificate = try? Certificate(pemEncoded: certificatePEM) else { return "" }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return attribute.value.description
            }
        }
        return ""
    }

    // MARK: Files

    /// Writes the certificate and the key (0600, created with that mode). Refuses to replace either file unless
    /// `force`: a registered identity that is silently replaced locks its party out.
    public func write(certificate: URL, key: URL, force: Bool = false) throws {
        for url in [certificate, key] where FileManager.default.fileExists(atPath: url.path) && !force {
            throw TLSIdentityError("\(url.path) exists; refusing to replace a TLS identity (pass --force to replace it, then register the new pin)")
        }
        try SecretFile.write(Data(privateKeyPEM.utf8), to: key)
        try Data(certificatePEM.utf8).write(to: certificate, options: .atomic)
    }

    public static func load(certificate: URL, key: URL) throws -> TLSIdentity {
        do {
            return try TLSIdentity(
                certificatePEM: String(decoding: try Data(contentsOf: certificate), as: UTF8.self),
                privateKeyPEM: String(decoding: try Data(contentsOf: key), as: UTF8.self))
        } catch let error as TLSIdentityError {
            throw error
        } catch {
            throw TLSIdentityError(
                "cannot read the TLS identity \(certificate.path) + \(key.path): \(error.localizedDescription); create one with `gateway keys tls`")
        }
    }
}

/// Where a node keeps its TLS identity in its data directory.
public enum TLSFiles {
    public static let certificate = "tls-cert.pem"
    public static let key = "tls-key.pem"
}

public struct TLSIdentityError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Files that hold secrets: created with mode 0600 from the start (never written world-readable, then narrowed).
public enum SecretFile {
    /// Writes `data` to `url` (mode 0600, synced, then moved into place). With `replacing: false`, an existing file is
    /// an error and is left untouched, even when it appears while this one is written (link(2) refuses to clobber).
    public static func write(_ data: Data, to url: URL, replacing: Bool = true) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw TLSIdentityError("cannot create \(temporary.path): is \(url.deletingLastPathComponent().path) a writable directory?")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if replacing {
                // rename(2) replaces the target atomically: no moment without the file, none with half of it.
                guard rename(temporary.path, url.path) == 0 else {
                    throw TLSIdentityError("cannot move \(temporary.path) into place (errno \(errno))")
                }
            } else {
                guard link(temporary.path, url.path) == 0 else {
                    let code = errno
                    throw TLSIdentityError(
                        code == EEXIST
                            ? "\(url.path) exists; it was left as it is (pass --force to replace it)"
                            : "cannot write \(url.path) (errno \(code)): is the directory writable?")
                }
                try? FileManager.default.removeItem(at: temporary)
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}

/// A dotted IPv4 address (for the certificate's subject alternative names).
struct IPv4Address {
    let bytes: [UInt8]
    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        self.bytes = bytes
    }
}
