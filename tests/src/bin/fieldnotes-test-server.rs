//! The server binary, built inside the test crate so that end-to-end tests can run it as a
//! separate process (and kill it with SIGKILL). Same entry point as `fieldnotes-server`.

use std::process::ExitCode;

fn main() -> ExitCode {
    fieldnotes_server::cli::main()
}
