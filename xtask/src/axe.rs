//! axe-core, the accessibility engine the app's browser tests run inside the page (issue 12):
//! found in `$CARGO_TARGET_DIR/tools/axe-core-VERSION/`, or fetched there once from the npm
//! registry with npm (which checks the package against the registry's integrity hash). It is a
//! test tool only: the app never loads it, and running the app needs no npm.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::browser::apt_install;
use crate::workspace::{Workspace, run, step};

/// The axe-core release the tests run, exactly.
pub const VERSION: &str = "4.14.1";

/// The variable naming `axe.min.js` for the tests (`fieldnotes-tests` reads the same one).
pub const AXE_VAR: &str = "FIELDNOTES_AXE_JS";

/// The path of `axe.min.js`, fetched first if it is not there yet.
pub fn ensure(ws: &Workspace) -> anyhow::Result<PathBuf> {
    let dir = ws
        .target_dir
        .join("tools")
        .join(format!("axe-core-{VERSION}"));
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if script.is_file() {
        return Ok(script);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        apt_install(&["npm"], || {
            "npm not found. The app's accessibility tests fetch axe-core with npm: install \
             Node.js and npm (`sudo apt-get install -y npm` on Debian or Ubuntu), then run \
             `cargo xtask test` again"
                .to_owned()
        })?;
    }
    step(&format!(
        "fetching axe-core {VERSION} with npm into {} (the app's accessibility tests run it in \
         the page; once)",
        dir.display()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    run(Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--no-package-lock",
            "--prefix",
        ])
        .arg(&dir)
        .arg(format!("axe-core@{VERSION}")))
    .context("npm could not fetch axe-core from the npm registry")?;
    if !script.is_file() {
        bail!(
            "npm installed axe-core {VERSION} but {} is not there",
            script.display()
        );
    }
    Ok(script)
}
