//! Where things are (the workspace, the shared target folder) and how commands are run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// The workspace and its target folder, as cargo reports them.
#[derive(Debug)]
pub struct Workspace {
    /// The cargo that runs this program (`$CARGO`), so every step uses the same toolchain.
    cargo: PathBuf,
    pub root: PathBuf,
    /// `$CARGO_TARGET_DIR`, or the workspace's `target`: one target folder for everything.
    pub target_dir: PathBuf,
}

impl Workspace {
    /// Ask cargo where the workspace and its target folder are.
    pub fn find() -> anyhow::Result<Self> {
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        let output = Command::new(&cargo)
            .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
            .output()
            .with_context(|| format!("running {} metadata", cargo.display()))?;
        if !output.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
        let path = |key: &str| {
            metadata[key]
                .as_str()
                .map(PathBuf::from)
                .with_context(|| format!("cargo metadata has no {key}"))
        };
        Ok(Self {
            root: path("workspace_root")?,
            target_dir: path("target_directory")?,
            cargo,
        })
    }

    /// A cargo command run in the workspace.
    pub fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command.current_dir(&self.root);
        command
    }
}

/// Announce a long step.
pub fn step(what: &str) {
    eprintln!("xtask: {what}");
}

/// Run `command` to the end; its failure is an error naming it.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = shown(command);
    let status = command
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The wasm32 target the app is built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// `rustup target add wasm32-unknown-unknown` (quick when it is already there).
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    step(&format!(
        "making sure the {WASM_TARGET} target is installed"
    ));
    run(Command::new("rustup").args(["target", "add", WASM_TARGET])).context(
        "the wasm32 target could not be installed with rustup; install rustup \
         (https://rustup.rs) or add the target to your toolchain by hand",
    )
}

/// Write `contents` to `dir/name`.
pub fn write(dir: &Path, name: &str, contents: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
}
