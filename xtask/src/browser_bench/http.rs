//! A tiny HTTP/1.1 server on 127.0.0.1 for the benchmark page: it serves the files of one
//! folder, and hands what the page POSTs (to `/result`, `/done`, `/error`) to the caller.
//!
//! Every response is cross-origin isolated (COOP and COEP), which gives the page
//! `performance.now()` at its finest resolution (5 µs in Chromium instead of 100 µs).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::{Context as _, bail};

/// What the page reported.
#[derive(Debug)]
pub enum Report {
    /// One phase's figures.
    Result(serde_json::Value),
    /// Every phase has reported.
    Done,
    /// The page failed, with its error.
    Error(String),
}

/// A server running on a thread of its own until the program ends.
#[derive(Debug)]
pub struct Server {
    pub port: u16,
    pub reports: Receiver<Report>,
}

/// Largest body the page may POST.
const MAX_BODY: usize = 16 << 20;

/// Serve `dir` on an ephemeral port of 127.0.0.1.
pub fn start(dir: PathBuf) -> anyhow::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").context("listening on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    let (sender, reports) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            let sender = sender.clone();
            std::thread::spawn(move || {
                if let Err(e) = answer(stream, &dir, &sender)
                    && !closed_early(&e)
                {
                    eprintln!("xtask: browser-bench server: {e:#}");
                }
            });
        }
    });
    Ok(Server { port, reports })
}

/// Whether `e` is only the browser closing a connection before the answer was sent (it does,
/// when the page navigates away).
fn closed_early(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        )
    })
}

/// Read one request and answer it (the connection then closes).
fn answer(stream: TcpStream, dir: &Path, reports: &Sender<Report>) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().context("a bad Content-Length")?;
        }
    }
    let path = target.split('?').next().unwrap_or("");
    match method {
        "GET" => get(stream, dir, path),
        "POST" => {
            if length > MAX_BODY {
                bail!("a POST of {length} bytes");
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            let report = match path {
                "/result" => Report::Result(serde_json::from_slice(&body)?),
                "/done" => Report::Done,
                _ => Report::Error(String::from_utf8_lossy(&body).into_owned()),
            };
            // The receiver is gone only once the benchmark has stopped listening.
            let _ = reports.send(report);
            respond(stream, "204 No Content", "text/plain", &[])
        }
        _ => respond(
            stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET or POST",
        ),
    }
}

/// Send the file `path` names in `dir` (no subfolders, no `..`).
fn get(stream: TcpStream, dir: &Path, path: &str) -> anyhow::Result<()> {
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    if name.contains('/') || name.contains("..") || name.contains('\\') {
        return respond(stream, "404 Not Found", "text/plain", b"not found");
    }
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => respond(stream, "200 OK", content_type(name), &bytes),
        Err(_) => respond(stream, "404 Not Found", "text/plain", b"not found"),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn respond(
    mut stream: TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    Ok(stream.flush()?)
}
