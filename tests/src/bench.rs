//! What the benchmark binaries share: reading their flags, the statistics they print, and a
//! `main` that runs them on a tokio runtime and turns an error into an exit status.

// Benchmark statistics over a few hundred samples: ranks fit every integer and float type.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::future::Future;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::Backend;

/// Reads `--flag value` pairs from the command line, handing each flag and a way to take its
/// value to `set`, which answers whether it knows the flag. `--bench` (which cargo adds) is
/// passed over. `Ok(false)` means help was asked for.
pub fn read_flags(
    help: &str,
    mut set: impl FnMut(&str, &mut dyn FnMut() -> anyhow::Result<String>) -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(false),
            "--bench" => continue,
            _ => {}
        }
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        if !set(&arg, &mut value)? {
            bail!("unknown argument {arg:?}\n\n{help}");
        }
    }
    Ok(true)
}

/// The backends a `--backend` value names: `sqlite`, `postgres` or `both`.
pub fn backends(value: &str) -> anyhow::Result<Vec<Backend>> {
    Ok(if value == "both" {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        vec![value.parse()?]
    })
}

/// The value at rank `p` (0 to 1) of `sorted`; NaN when there is none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The median of `values` (sorting them).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A benchmark's `main`: print `help` when asked, else run `run` on a tokio runtime. Bad
/// arguments exit with status 2, a failed run with 1, each saying why.
pub fn main<A, F>(help: &str, args: anyhow::Result<Option<A>>, run: impl FnOnce(A) -> F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    let args = match args {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(args)));
    if let Err(e) = outcome {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
