//! The benchmark's figures: each run's, then the median of the runs, as Markdown tables for
//! docs/PERFORMANCE.md.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use serde_json::Value;

/// The wasm and JS of one size probe.
#[derive(Debug)]
pub struct Size {
    pub engine: String,
    pub wasm: usize,
    pub wasm_gzip: usize,
    pub js: usize,
    pub js_gzip: usize,
}

impl Size {
    fn gzip(&self) -> usize {
        self.wasm_gzip + self.js_gzip
    }
}

/// The documents in the page the benchmark writes and lists.
const PAGE_DOCS: f64 = 2000.0;
const MIB: f64 = 1024.0 * 1024.0;

/// The sizes as JSON, for results.json.
pub fn sizes_json(sizes: &[Size]) -> Value {
    sizes
        .iter()
        .map(|s| {
            serde_json::json!({
                "engine": s.engine, "wasm": s.wasm, "wasm_gzip": s.wasm_gzip,
                "js": s.js, "js_gzip": s.js_gzip,
            })
        })
        .collect()
}

/// The size table: each probe, and what it adds over the baseline (the first).
pub fn sizes_table(sizes: &[Size]) -> String {
    let base = sizes.first().map_or(0, Size::gzip);
    let mut out = String::from(
        "| engine | wasm | wasm gzip | JS | JS gzip | wasm + JS gzip | added over none, gzip |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for s in sizes {
        let added = i64::try_from(s.gzip()).unwrap_or(0) - i64::try_from(base).unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {} B | {} B | {} B | {} B | {} B | {added} B |",
            s.engine,
            s.wasm,
            s.wasm_gzip,
            s.js,
            s.js_gzip,
            s.gzip()
        );
    }
    out
}

/// Print one run's figures.
pub fn print_run(n: usize, phases: &[Value]) -> anyhow::Result<()> {
    for (name, value) in metrics(phases)? {
        println!("run {n}: {name}: {value:.3}");
    }
    Ok(())
}

/// Every metric, with each run's value and the median of the runs.
pub fn summary(runs: &[Vec<Value>]) -> anyhow::Result<String> {
    let per_run: Vec<Vec<(String, f64)>> = runs
        .iter()
        .map(|r| metrics(r))
        .collect::<anyhow::Result<_>>()?;
    let Some(first) = per_run.first() else {
        bail!("no run to summarise");
    };
    let mut out = String::from("| measurement | median |");
    for n in 1..=per_run.len() {
        let _ = write!(out, " run {n} |");
    }
    out.push_str("\n| --- | --- |");
    out.push_str(&" --- |".repeat(per_run.len()));
    out.push('\n');
    for (i, (name, _)) in first.iter().enumerate() {
        let values: Vec<f64> = per_run.iter().map(|run| run[i].1).collect();
        let _ = write!(out, "| {name} | {} |", shown(median(&values)));
        for value in values {
            let _ = write!(out, " {} |", shown(value));
        }
        out.push('\n');
    }
    Ok(out)
}

fn shown(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// One run's metrics, named, in a fixed order.
fn metrics(phases: &[Value]) -> anyhow::Result<Vec<(String, f64)>> {
    let phase = |name: &str| {
        phases
            .iter()
            .find(|p| p["phase"] == name)
            .with_context(|| format!("the page reported no {name} phase"))
    };
    let (write, read) = (&phase("write")?["results"], &phase("read")?["results"]);
    let mut out = Vec::new();
    for (label, key) in [
        ("IndexedDB, strict", "idb_strict"),
        ("IndexedDB, relaxed", "idb_relaxed"),
        ("SQLite/OPFS worker, journal DELETE", "sqlite_delete"),
        ("SQLite/OPFS worker, journal PERSIST", "sqlite_persist"),
    ] {
        let edits = numbers(&write[key]["edit_ms"])?;
        out.push((format!("{label}: edit p50 (ms)"), percentile(&edits, 50.0)));
        out.push((format!("{label}: edit p99 (ms)"), percentile(&edits, 99.0)));
        out.push((
            format!("{label}: page of 2,000 (ms)"),
            number(&write[key]["page_ms"])?,
        ));
    }
    let echoes = numbers(&write["worker"]["echo_ms"])?;
    out.push((
        "page↔worker message, 2 KB: p50 (ms)".into(),
        percentile(&echoes, 50.0),
    ));
    out.push((
        "page↔worker message, 2 KB: p99 (ms)".into(),
        percentile(&echoes, 99.0),
    ));
    out.extend(cold_read(read)?);
    out.extend(argon2(&write["argon2"])?);
    Ok(out)
}

/// The read phase, after the page reloaded.
fn cold_read(read: &Value) -> anyhow::Result<Vec<(String, f64)>> {
    for key in ["idb", "sqlite"] {
        let rows = number(&read[key]["rows"])?;
        if (rows - PAGE_DOCS).abs() > 0.5 {
            bail!("the {key} list read {rows} rows, not {PAGE_DOCS}");
        }
    }
    let idb_open = number(&read["idb"]["open_ms"])?;
    let idb_list = number(&read["idb"]["list_ms"])?;
    let ready = number(&read["worker"]["ready_ms"])?;
    let sqlite_open = number(&read["sqlite"]["open_ms"])?;
    let sqlite_list = number(&read["sqlite"]["list_ms"])?;
    Ok(vec![
        ("cold, IndexedDB: open (ms)".into(), idb_open),
        ("cold, IndexedDB: list 2,000 (ms)".into(), idb_list),
        (
            "cold, IndexedDB: open + list (ms)".into(),
            idb_open + idb_list,
        ),
        (
            "cold, SQLite/OPFS: worker ready, wasm + VFS (ms)".into(),
            ready,
        ),
        (
            "cold, SQLite/OPFS: of which VFS install (ms)".into(),
            number(&read["worker"]["install_ms"])?,
        ),
        ("cold, SQLite/OPFS: open (ms)".into(), sqlite_open),
        ("cold, SQLite/OPFS: list 2,000 (ms)".into(), sqlite_list),
        (
            "cold, SQLite/OPFS: worker + open + list (ms)".into(),
            ready + sqlite_open + sqlite_list,
        ),
    ])
}

/// Each Argon2id setting: the median derivation, and how much the wasm memory grew.
fn argon2(settings: &Value) -> anyhow::Result<Vec<(String, f64)>> {
    let settings = settings.as_array().context("no Argon2id figures")?;
    let mut out = Vec::new();
    for setting in settings {
        let name = format!(
            "Argon2id m={} KiB t={} p={}",
            setting["memory_kib"], setting["iterations"], setting["parallelism"]
        );
        let times = numbers(&setting["times"])?;
        out.push((
            format!("{name}: median of {} (ms)", times.len()),
            median(&times),
        ));
        let grown = number(&setting["memory_after"])? - number(&setting["memory_before"])?;
        out.push((format!("{name}: wasm memory growth (MiB)"), grown / MIB));
    }
    Ok(out)
}

fn number(value: &Value) -> anyhow::Result<f64> {
    value
        .as_f64()
        .with_context(|| format!("{value} is not a number"))
}

fn numbers(value: &Value) -> anyhow::Result<Vec<f64>> {
    let values: Vec<f64> = value
        .as_array()
        .with_context(|| format!("{value} is not a list"))?
        .iter()
        .map(number)
        .collect::<anyhow::Result<_>>()?;
    if values.is_empty() {
        bail!("an empty list of timings");
    }
    Ok(values)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    }
}

/// The nearest-rank percentile `p` of `values` (not empty).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a rank between 1 and the number of values"
)]
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians_by_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 100.0);
        assert_eq!(percentile(&values, 99.0), 198.0);
        // A rank between two values rounds up: p99 of 10 values is the largest.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 99.0), 10.0);
        assert_eq!(percentile(&[5.0, 1.0, 3.0, 2.0, 4.0], 50.0), 3.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
