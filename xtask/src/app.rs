//! `cargo xtask app`: the field app, built for wasm32 and written out as a folder the server
//! serves (`fieldnotes-server --app-dir`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasm_bindgen_cli_support::Bindgen;

use crate::icons;
use crate::workspace::{WASM_TARGET, Workspace, run, step, write};

/// The variable naming the built app's folder for the tests (and, as the same name, the
/// server's `--app-dir`).
pub const APP_DIR_VAR: &str = "FIELDNOTES_APP_DIR";

const PACKAGE: &str = "fieldnotes-app";
/// The cargo profile of the wasm build (the workspace's `Cargo.toml`: release, for size).
const PROFILE: &str = "wasm-release";
/// The file names wasm-bindgen writes: `fieldnotes_app.js` and `fieldnotes_app_bg.wasm`.
const STEM: &str = "fieldnotes_app";

/// Files of `crates/app/static` copied as they are.
const STATIC_FILES: [&str; 4] = ["index.html", "boot.js", "app.css", "manifest.webmanifest"];
/// The service worker, which gets this build's version and list of files.
const SERVICE_WORKER: &str = "sw.js";
const VERSION_MARK: &str = "__FIELDNOTES_VERSION__";
const SHELL_MARK: &str = "__FIELDNOTES_SHELL__";
/// The icon sizes the manifest names.
const ICON_SIZES: [u32; 2] = [192, 512];

/// A built app.
#[derive(Debug)]
pub struct Built {
    pub dir: PathBuf,
}

/// Build the app into `<target dir>/app`, replacing what was there.
pub fn build(ws: &Workspace) -> anyhow::Result<Built> {
    step(&format!(
        "building {PACKAGE} for {WASM_TARGET} (profile {PROFILE}: release, optimised for size)"
    ));
    run(ws.cargo().args([
        "build",
        "--locked",
        "-p",
        PACKAGE,
        "--target",
        WASM_TARGET,
        "--profile",
        PROFILE,
    ]))?;
    let wasm = ws
        .target_dir
        .join(WASM_TARGET)
        .join(PROFILE)
        .join(format!("{STEM}.wasm"));
    let dir = ws.target_dir.join("app");
    step("generating the JS glue (wasm-bindgen-cli-support)");
    glue(&wasm, &dir)?;

    step(&format!("writing the app shell into {}", dir.display()));
    write_shell(&ws.root.join("crates/app/static"), &dir)?;
    report_sizes(&dir)?;
    Ok(Built { dir })
}

/// Generate the JS glue for `wasm` into `dir`, emptied first: ES module output whose `init()`
/// with no argument loads the wasm beside the JS, without names or producer sections.
pub fn glue(wasm: &Path, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Bindgen::new()
        .input_path(wasm)
        .web(true)?
        .omit_default_module_path(false)
        .typescript(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(dir)
        .with_context(|| format!("generating the JS glue for {}", wasm.display()))
}

/// Copy the static files, draw the icons, and write the service worker with the list of every
/// file in the folder and a version that changes whenever any of them does.
fn write_shell(static_dir: &Path, dir: &Path) -> anyhow::Result<()> {
    for name in STATIC_FILES {
        let from = static_dir.join(name);
        std::fs::copy(&from, dir.join(name))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    for size in ICON_SIZES {
        write(dir, &format!("icon-{size}.png"), &icons::png(size)?)?;
    }
    let files = files_under(dir)?;
    let mut crc = flate2::Crc::new();
    for name in &files {
        crc.update(name.as_bytes());
        crc.update(&std::fs::read(dir.join(name))?);
    }
    let shell: Vec<&str> = std::iter::once("./")
        .chain(files.iter().map(String::as_str))
        .collect();
    let template_path = static_dir.join(SERVICE_WORKER);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let worker = template
        .replace(VERSION_MARK, &format!("{:08x}", crc.sum()))
        .replace(SHELL_MARK, &serde_json::to_string(&shell)?);
    write(dir, SERVICE_WORKER, worker.as_bytes())
}

/// Every file under `dir`, as `/`-separated paths relative to it, sorted.
fn files_under(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(dir)?;
                let parts: Vec<_> = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy())
                    .collect();
                found.push(parts.join("/"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Print the size of the wasm and the JS glue, as sent (gzip) and as stored.
fn report_sizes(dir: &Path) -> anyhow::Result<()> {
    let mut total_gzip = 0;
    for name in [format!("{STEM}_bg.wasm"), format!("{STEM}.js")] {
        let bytes = std::fs::read(dir.join(&name))?;
        let gzip = gzip_len(&bytes)?;
        total_gzip += gzip;
        step(&format!("  {name}: {} bytes, {gzip} gzip", bytes.len()));
    }
    step(&format!("  wasm + JS: {total_gzip} bytes gzip"));
    Ok(())
}

pub fn gzip_len(bytes: &[u8]) -> anyhow::Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}
