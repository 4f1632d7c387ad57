// The one place the tool's version is written down; --version, JSON events and image metadata
// all read it from here.

/// vqclip's release version.
let vqclipVersion = "0.1.0"
