// What a long-running command shows while it works. Three renderings of one event sequence:
// --json (one object per line on stdout), a progress bar on stderr when stderr is a terminal,
// or nothing but the final summary when stderr is redirected (logs stay clean).

import Foundation

/// Renders the events of one command run. Library code never prints; commands translate the
/// library's callbacks into these calls.
final class Reporter {
    enum Mode: Equatable {
        /// One JSON object per line on stdout.
        case json
        /// A redrawn progress bar on stderr.
        case bar
        /// Only the final result lines.
        case plain
    }

    let mode: Mode
    private let command: String
    private let startTime = Date()
    private var lastDraw = Date.distantPast
    private var barVisible = false

    init(command: String, json: Bool) {
        self.command = command
        mode = json ? .json : (Terminal.stderrIsTerminal ? .bar : .plain)
    }

    var elapsed: Double { Date().timeIntervalSince(startTime) }

    /// The run begins: its settings, as they will be recorded in the output's metadata.
    func start(_ settings: [(String, JSONValue)], summary: String) {
        switch mode {
        case .json: JSONLine.write([("event", .string("start")), ("command", .string(command)),
                                    ("version", .string(vqclipVersion))] + settings)
        case .bar, .plain: Terminal.writeError(summary + "\n")
        }
    }

    /// One optimisation step finished. `extra` holds named per-term values (losses, lr...).
    func progress(step: Int, total: Int, loss: Float? = nil, extra: [(String, JSONValue)] = []) {
        let seconds = elapsed
        switch mode {
        case .json:
            let lossField: [(String, JSONValue)] = loss.map { [("loss", .float($0))] } ?? []
            JSONLine.write([("event", .string("progress")), ("step", .int(step)), ("total", .int(total))]
                           + lossField + extra + [("elapsed", .number(rounded(seconds)))])
        case .bar:
            // Redraw at most ~15 times a second, and always on the last step.
            let now = Date()
            guard step == total || now.timeIntervalSince(lastDraw) >= 0.066 else { return }
            lastDraw = now
            let width = 28
            let filled = total > 0 ? min(width, step * width / total) : width
            let rate = seconds > 0 ? Double(step) / seconds : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let lossText = loss.map { " loss " + String(format: "%.4f", $0) } ?? ""
            let line = "[\(bar)] \(step)/\(total)\(lossText) \(String(format: "%.1f", rate)) it/s"
            Terminal.writeError("\r\u{1B}[2K" + line)
            barVisible = true
        case .plain:
            break
        }
    }

    /// A file was written. `kind` is "frame" for progress frames, "final" for the result.
    func saved(path: String, kind: String, step: Int) {
        switch mode {
        case .json:
            JSONLine.write([("event", .string("saved")), ("path", .string(path)), ("kind", .string(kind)),
                            ("step", .int(step))])
        case .bar, .plain:
            // The final path goes to stdout so that scripts can capture it; frames stay quiet.
            if kind == "final" {
                endBar()
                Terminal.writeOutput(path + "\n")
            }
        }
    }

    /// The run finished successfully.
    func done(_ fields: [(String, JSONValue)], summary: String) {
        let seconds = elapsed
        switch mode {
        case .json:
            JSONLine.write([("event", .string("done"))] + fields + [("elapsed", .number(rounded(seconds)))])
        case .bar, .plain:
            endBar()
            Terminal.writeError(summary + " in \(String(format: "%.1f", seconds)) s\n")
        }
    }

    /// Ends a progress-bar line so that following messages start on a fresh line.
    func endBar() {
        if barVisible { Terminal.writeError("\n"); barVisible = false }
    }

    private func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
}
