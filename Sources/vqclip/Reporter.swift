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
    private var firstStep: Int?
    /// Fields added to every JSON event (a batch sets the file and line being rendered).
    var context: [(String, JSONValue)] = [] { didSet { firstStep = nil; rateStart = Date() } }
    /// When the current render started (its rate and ETA count from here).
    private var rateStart = Date()

    /// Writes one JSON event with the context after its "event" field.
    private func emit(_ fields: [(String, JSONValue)]) {
        JSONLine.write(Array(fields.prefix(1)) + context + fields.dropFirst())
    }

    /// A batch line finished: `status` is rendered, skipped or failed. One JSON event, or one
    /// line on stderr.
    func lineResult(_ status: String, file: String, line: Int, fields: [(String, JSONValue)], text: String) {
        switch mode {
        case .json: emit([("event", .string("line")), ("status", .string(status)), ("file", .string(file)), ("line", .int(line))] + fields)
        case .bar, .plain:
            endBar()
            Terminal.writeError("\(status): \(text)\n")
        }
    }

    init(command: String, json: Bool) {
        self.command = command
        mode = json ? .json : (Terminal.stderrIsTerminal ? .bar : .plain)
    }

    var elapsed: Double { Date().timeIntervalSince(startTime) }

    /// The run begins: its settings, as they will be recorded in the output's metadata.
    func start(_ settings: [(String, JSONValue)], summary: String) {
        switch mode {
        case .json: emit([("event", .string("start")), ("command", .string(command)),
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
            emit([("event", .string("progress")), ("step", .int(step)), ("total", .int(total))]
                           + lossField + extra + [("elapsed", .number(rounded(seconds)))])
        case .bar:
            // Redraw at most ~15 times a second, and always on the last step.
            let now = Date()
            guard step == total || now.timeIntervalSince(lastDraw) >= 0.066 else { return }
            lastDraw = now
            // The line never wraps: the bar shrinks with the terminal (and goes on a very narrow one).
            let columns = Terminal.width
            let width = max(0, min(28, columns - 50))
            let filled = total > 0 ? min(width, step * width / total) : width
            // A resumed run starts part-way: its rate counts only the steps taken here.
            if firstStep == nil { firstStep = step - 1 }
            let done = step - (firstStep ?? 0)
            let lineSeconds = now.timeIntervalSince(rateStart)
            let rate = lineSeconds > 0 ? Double(done) / lineSeconds : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let lossText = loss.map { " loss " + String(format: "%.4f", $0) } ?? ""
            let speed = rate >= 1 || rate == 0 ? String(format: "%.1f it/s", rate) : String(format: "%.1f s/it", 1 / rate)
            let eta = rate > 0 && step < total ? " ETA " + Reporter.clock(Double(total - step) / rate) : ""
            let full = (width > 0 ? "[\(bar)] " : "") + "\(step)/\(total)\(lossText) \(speed)\(eta)"
            let line = String(full.prefix(max(1, columns - 1)))
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
            emit([("event", .string("saved")), ("path", .string(path)), ("kind", .string(kind)),
                            ("step", .int(step))])
        case .bar, .plain:
            // The final path goes to stdout so that scripts can capture it; frames stay quiet.
            if kind == "final" {
                endBar()
                Terminal.writeOutput(path + "\n")
            }
        }
    }

    /// Something the user should know that does not stop the run: a `note` event (with `kind`,
    /// `fields` and the message), or one "vqclip: note: …" line on stderr.
    func note(_ kind: String, _ fields: [(String, JSONValue)], text: String) {
        switch mode {
        case .json: emit([("event", .string("note")), ("kind", .string(kind))] + fields + [("message", .string(text))])
        case .bar, .plain:
            endBar()
            Terminal.writeError("vqclip: note: \(text)\n")
        }
    }

    /// The run finished successfully.
    func done(_ fields: [(String, JSONValue)], summary: String) {
        let seconds = elapsed
        switch mode {
        case .json:
            emit([("event", .string("done"))] + fields + [("elapsed", .number(rounded(seconds)))])
        case .bar, .plain:
            endBar()
            Terminal.writeError(summary + " in \(String(format: "%.1f", seconds)) s\n")
        }
    }

    /// Ends a progress-bar line so that following messages start on a fresh line.
    func endBar() {
        if barVisible { Terminal.writeError("\n"); barVisible = false }
    }

    /// Seconds as m:ss or h:mm:ss.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    private func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
}
