// Raw writes to the standard streams (unbuffered, so JSON lines and progress interleave
// correctly with other processes) and terminal detection.

import Foundation

enum Terminal {
    /// True when standard error is a terminal, the only case in which a progress bar is drawn.
    static let stderrIsTerminal = isatty(STDERR_FILENO) != 0

    static func writeError(_ text: String) { write(text, to: STDERR_FILENO) }
    static func writeOutput(_ text: String) { write(text, to: STDOUT_FILENO) }

    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
}
