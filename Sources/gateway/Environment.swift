import ArgumentParser
import Foundation
import GatewayCrypto
import Logging
import NIOConcurrencyHelpers

/// Flag → environment variable → default, in that order.
func resolve(_ flag: String?, env name: String, default fallback: String) -> String {
    flag ?? ProcessInfo.processInfo.environment[name] ?? fallback
}

let defaultDatabaseURL = "postgres://datagateway:datagateway@127.0.0.1:5432/datagateway"

extension SuiteName: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}

func makeLogger(_ label: String, level: Logger.Level) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = level
    return logger
}

/// Prints to standard error (progress and errors), keeping standard output for results. With `serve --log-format
/// json` these lines are JSON objects too (level notice), so that a log collector reads one format.
func note(_ message: String) {
    if NoteFormat.json.withLockedValue({ $0 }) {
        JSONLogHandler(label: "gateway").log(
            event: LogEvent(level: .notice, message: "\(message)", metadata: nil, source: "gateway", file: #fileID, function: #function, line: #line))
        return
    }
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

enum NoteFormat {
    static let json = NIOLockedValueBox(false)
}

/// Writes a line to standard output unbuffered, so narration and the LISTENING line appear at once even in a pipe.
func say(_ message: String) {
    do { try FileHandle.standardOutput.write(contentsOf: Data((message + "\n").utf8)) } catch {
        // The reader is gone (a closed pipe): nothing more can be said, and nothing went wrong.
        exit(0)
    }
}

/// An identifier as one URL path segment: percent-encoded, `/` included, so an id can never reach another route.
func pathSegment(_ text: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove("/")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// A command that could not do its work (as opposed to a command line that does not parse): printed as one
/// sentence saying what to do next, without the usage text, and the process exits 1 (usage errors exit 64).
extension ExitCode {
    /// The command did its work and the answer is no: a check found problems, a request is denied (see `gateway --help`).
    static let negative = ExitCode(2)
}

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
