//! Headless Chromium as the project runs it: where Chromium and ChromeDriver are (Debian's
//! paths, or the variables naming others) and the flags Chromium starts with.
//!
//! One place for both users: `cargo xtask` installs the programs and hands their paths to the
//! browser tests (`fieldnotes-tests`), and `cargo xtask browser-bench` measures in the same
//! Chromium the tests drive, started the same way. No dependencies, so neither pulls in the
//! other's.

use std::path::PathBuf;

/// A program, found through a variable that names it or, without one, where Debian puts it.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// The variable naming another copy.
    pub var: &'static str,
    /// Where Debian's package installs it.
    pub default: &'static str,
}

impl Program {
    /// Where the program is expected: what [`Program::var`] names, else [`Program::default`]
    /// (whether a file is there is for the caller to check).
    pub fn path(&self) -> PathBuf {
        std::env::var_os(self.var).map_or_else(|| PathBuf::from(self.default), PathBuf::from)
    }
}

/// Chromium, from Debian's package `chromium`.
pub const CHROMIUM: Program = Program {
    var: "FIELDNOTES_CHROMIUM",
    default: "/usr/bin/chromium",
};

/// ChromeDriver, from Debian's package `chromium-driver`.
pub const CHROMEDRIVER: Program = Program {
    var: "FIELDNOTES_CHROMEDRIVER",
    default: "/usr/bin/chromedriver",
};

/// The Debian packages that hold [`CHROMIUM`] and [`CHROMEDRIVER`].
pub const PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];

/// Chromium's flags: headless as root, and nothing that reaches for Google's servers (the
/// test machines' network is closed, and each refused connection costs time).
pub const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
