// The one error type of the CLIP module: a single line naming the file (or input) and the problem.

/// A CLIP loading, tokenising or inference error; its description is one line naming the file
/// or input and what is wrong with it.
public struct CLIPError: Error, CustomStringConvertible, Equatable {
    /// The one-line message.
    public let description: String

    /// Creates an error with a one-line message.
    public init(_ description: String) { self.description = description }
}
