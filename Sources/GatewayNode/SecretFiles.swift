import Foundation

/// Reads and writes the node's secret files: created with mode 0600, written atomically (temp file + rename),
/// so a crash during first start never leaves a half-written key.
package enum SecretFiles {
    static func read(_ url: URL) throws -> Data? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try Data(contentsOf: url)
    }

    package static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw NodeError("cannot write \(temporary.path): check that the data directory is writable")
        }
        if rename(temporary.path, url.path) != 0 {
            throw NodeError("cannot move \(temporary.path) into place (errno \(errno))")
        }
    }

    /// Returns the file's contents, creating it with `make()` first if it does not exist.
    static func loadOrCreate(_ url: URL, make: () throws -> Data) throws -> Data {
        if let existing = try read(url) { return existing }
        let data = try make()
        try write(data, to: url)
        return data
    }
}
