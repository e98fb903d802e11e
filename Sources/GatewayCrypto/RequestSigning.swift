import Foundation

/// The request-signing scheme of API v1 (RFC 9421 HTTP Message Signatures replace it in a later version).
///
/// A department signs, with its suite key, the UTF-8 string
///
///     datagateway-request-v1 \n METHOD \n path?query \n department \n timestamp \n nonce \n content-digest
///
/// and sends the parts as headers: `DG-Department`, `DG-Timestamp` (Unix seconds), `DG-Nonce` (16–64 hex
/// characters, single use), `Content-Digest` (RFC 9530, of the exact body bytes, also for an empty body) and
/// `DG-Signature` (base64). The server accepts timestamps within ±`freshnessSeconds` of its clock.
///
/// A request made in a role within the department also sends `DG-Role` (1–64 characters of a-z, 0-9, `_`, `-`), and
/// the signed string then ends with one more line, `\n role`: the role is signed, so it can be neither added,
/// removed nor changed in transit. Without a role the string is exactly as above.
public enum RequestSigning {
    public static let freshnessSeconds: Int64 = 300

    public enum Header {
        public static let department = "DG-Department"
        public static let timestamp = "DG-Timestamp"
        public static let nonce = "DG-Nonce"
        public static let signature = "DG-Signature"
        public static let contentDigest = "Content-Digest"
        public static let role = "DG-Role"
    }

    /// True for a role name the scheme accepts.
    public static func isValidRole(_ role: String) -> Bool {
        (1...64).contains(role.utf8.count)
            && role.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f || $0 == 0x2d }
    }

    /// RFC 9530 algorithm label of the suite's hash.
    public static func digestAlgorithm(_ suite: any CryptoSuite) -> String {
        switch suite.name {
        case .intl: return "sha-256"
        case .sm: return "sm3"
        }
    }

    /// The `Content-Digest` header value for a body: `sha-256=:<base64>:`.
    public static func contentDigest(_ body: [UInt8], suite: any CryptoSuite) -> String {
        "\(digestAlgorithm(suite))=:\(Data(suite.hash(body)).base64EncodedString()):"
    }

    public static func signingString(
        method: String, target: String, department: String, timestamp: String, nonce: String, contentDigest: String, role: String? = nil
    ) -> [UInt8] {
        let lines = ["datagateway-request-v1", method, target, department, timestamp, nonce, contentDigest] + (role.map { [$0] } ?? [])
        return Array(lines.joined(separator: "\n").utf8)
    }

    /// All headers for a signed request.
    public static func sign(
        method: String, target: String, body: [UInt8], department: String, key: any SigningKey, suite: any CryptoSuite,
        timestamp: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = Hex.encode(SystemRandom().bytes(count: 16)),
        role: String? = nil
    ) throws -> [(String, String)] {
        let digest = contentDigest(body, suite: suite)
        let message = signingString(
            method: method, target: target, department: department, timestamp: String(timestamp), nonce: nonce, contentDigest: digest,
            role: role
        )
        let signature = try key.sign(message)
        return [
            (Header.department, department), (Header.timestamp, String(timestamp)), (Header.nonce, nonce),
            (Header.contentDigest, digest), (Header.signature, Data(signature).base64EncodedString()),
        ] + (role.map { [(Header.role, $0)] } ?? [])
    }
}
