//! The `fieldnotes-server` binary: parse configuration, open the store, serve until Ctrl-C or
//! SIGTERM.

use std::process::ExitCode;

fn main() -> ExitCode {
    fieldnotes_server::cli::main()
}
