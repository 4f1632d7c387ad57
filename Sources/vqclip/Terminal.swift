// Raw writes to the standard streams (unbuffered, so JSON lines and progress interleave
// correctly with other processes) and terminal detection.

import FilePaths
import Foundation

enum Terminal {
    /// True when standard error is a terminal, the only case in which a progress bar is drawn.
    static let stderrIsTerminal = isatty(STDERR_FILENO) != 0

    /// Columns of the terminal on stderr (asked each time, so a resized window is followed),
    /// or 80 when it cannot be told.
    static var width: Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    static func writeError(_ text: String) { write(text, to: STDERR_FILENO) }
    static func writeOutput(_ text: String) { write(text, to: STDOUT_FILENO) }

    /// Writes `text` with the bytes of any path that are not UTF-8 shown as `\xFF`.
    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(PathBytes.display(text).utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
}
