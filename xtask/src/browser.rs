//! Chromium and ChromeDriver for the browser tests: found where Debian installs them, or
//! installed from Debian's packages when running as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;
use fieldnotes_chromium::{CHROMEDRIVER, CHROMIUM, PACKAGES};

use crate::workspace::{run, step};

/// Where the browser and its driver are.
#[derive(Debug)]
pub struct Tools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Tools {
    /// From the variables, or Debian's paths.
    fn expected() -> Self {
        Self {
            chromium: CHROMIUM.path(),
            chromedriver: CHROMEDRIVER.path(),
        }
    }

    fn missing(&self) -> Vec<&Path> {
        [&self.chromium, &self.chromedriver]
            .into_iter()
            .filter(|path| !path.is_file())
            .map(PathBuf::as_path)
            .collect()
    }
}

/// Find Chromium and ChromeDriver; install them with apt-get if they are missing and this runs
/// as root; otherwise say exactly what to install.
pub fn ensure() -> anyhow::Result<Tools> {
    step("looking for Chromium and ChromeDriver (the browser tests need both)");
    let tools = Tools::expected();
    if tools.missing().is_empty() {
        return Ok(tools);
    }
    apt_install(&PACKAGES, || {
        format!(
            "{} not found. The browser tests need Chromium and ChromeDriver: install them with \
             `sudo apt-get install -y {}` (Debian or Ubuntu), or set {} and {} to where they \
             are, then run `cargo xtask test` again",
            shown(&tools.missing()),
            PACKAGES.join(" "),
            CHROMIUM.var,
            CHROMEDRIVER.var,
        )
    })?;
    let missing = tools.missing();
    if !missing.is_empty() {
        bail!("{} still missing after apt-get install", shown(&missing));
    }
    Ok(tools)
}

fn shown(paths: &[&Path]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Install Debian `packages` with apt-get when running as root; otherwise fail with the message
/// `refusal` gives (which should say what to install by hand).
pub fn apt_install(packages: &[&str], refusal: impl FnOnce() -> String) -> anyhow::Result<()> {
    if !is_root()? {
        bail!("{}", refusal());
    }
    step(&format!("installing {} with apt-get", packages.join(" ")));
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Whether this process runs as root (`id -u` says 0).
fn is_root() -> anyhow::Result<bool> {
    let output = Command::new("id").arg("-u").output()?;
    Ok(output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "0")
}
