import Foundation

/// Minimal PEM armour: base64 body between BEGIN/END lines.
enum PEM {
    static func encode(label: String, der: [UInt8]) -> String {
        let body = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(body)\n-----END \(label)-----\n"
    }

    static func decode(label: String, pem: String) throws -> [UInt8] {
        let begin = "-----BEGIN \(label)-----"
        let end = "-----END \(label)-----"
        guard let start = pem.range(of: begin), let stop = pem.range(of: end), start.upperBound <= stop.lowerBound else {
            throw CryptoError(.invalidKey, "expected a PEM block labelled \(label)")
        }
        let body = pem[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: String(body)) else {
            throw CryptoError(.invalidKey, "PEM body is not valid base64")
        }
        return [UInt8](data)
    }
}
