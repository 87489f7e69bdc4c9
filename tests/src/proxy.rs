//! A TCP proxy on 127.0.0.1 that counts every byte crossing it in both directions, headers
//! included, so benchmarks report what really went over the socket. It can also cut answers
//! off part-way ([`CountingProxy::start_cutting`]) or drop whole answers on demand
//! ([`CountingProxy::drop_next_answers`]), as a network does when the signal goes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections to `upstream` and counts bytes.
#[derive(Debug)]
pub struct CountingProxy {
    pub addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    /// Answers still to drop (see [`CountingProxy::drop_next_answers`]).
    drop_answers: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<CountingProxy> {
        Self::start_with(upstream, None).await
    }

    /// A proxy that cuts every connection once `limit` bytes have come back from the server:
    /// the device sees its answer stop half-way, as when the signal drops mid-response.
    pub async fn start_cutting(upstream: SocketAddr, limit: u64) -> std::io::Result<CountingProxy> {
        Self::start_with(upstream, Some(limit)).await
    }

    async fn start_with(
        upstream: SocketAddr,
        cut_down_after: Option<u64>,
    ) -> std::io::Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let drop_answers = Arc::new(AtomicU64::new(0));
        let (u, d, c) = (up.clone(), down.clone(), connections.clone());
        let dropping = drop_answers.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::Relaxed);
                let (u, d) = (u.clone(), d.clone());
                let dropping = dropping.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let a = tokio::spawn(pump(cr, sw, u, None, None));
                    let b = tokio::spawn(pump(sr, cw, d, cut_down_after, Some(dropping)));
                    let _ = tokio::join!(a, b);
                });
            }
        });
        Ok(CountingProxy {
            addr,
            up,
            down,
            connections,
            drop_answers,
            task,
        })
    }

    /// Drop the next `n` answers the server sends: the request reaches the server and is
    /// handled, but the connection is closed before any byte of its answer reaches the client.
    pub fn drop_next_answers(&self, n: u64) {
        self.drop_answers.store(n, Ordering::SeqCst);
    }

    /// Answers still to be dropped.
    pub fn answers_to_drop(&self) -> u64 {
        self.drop_answers.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes sent by clients plus bytes sent back, since the start or the last reset.
    pub fn total_bytes(&self) -> u64 {
        self.up.load(Ordering::Relaxed) + self.down.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.up.store(0, Ordering::Relaxed);
        self.down.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: Arc<AtomicU64>,
    limit: Option<u64>,
    drop_answers: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = limit.unwrap_or(u64::MAX);
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_)
                if drop_answers.as_ref().is_some_and(|n| {
                    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                }) =>
            {
                // The first bytes of an answer: drop them and the connection.
                break;
            }
            Ok(read) => {
                let n = read.min(usize::try_from(left).unwrap_or(usize::MAX));
                left -= n as u64;
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() || left == 0 {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
