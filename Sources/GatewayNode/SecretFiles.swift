import Foundation
import GatewayTLS

/// Reads and writes the node's secret files: created with mode 0600, written atomically (temp file + rename),
/// so a crash during first start never leaves a half-written key.
package enum SecretFiles {
    static func read(_ url: URL) throws -> Data? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try Data(contentsOf: url)
    }

    /// Created 0600 from the start, synced, then moved into place (one implementation: `GatewayTLS.SecretFile`).
    package static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try SecretFile.write(data, to: url)
    }

    /// Returns the file's contents, creating it with `make()` first if it does not exist.
    static func loadOrCreate(_ url: URL, make: () throws -> Data) throws -> Data {
        if let existing = try read(url) { return existing }
        let data = try make()
        try write(data, to: url)
        return data
    }
}
