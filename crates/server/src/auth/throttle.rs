//! Sign-in throttling, so passwords cannot be guessed at speed.
//!
//! Two limits, both GCRA buckets from `governor` that allow a burst of N tries and then one
//! more every window/N:
//!
//! * per client address, checked by the [`AddressTry`] extractor the sign-in handlers take
//!   first. The address is the socket's peer (axum `ConnectInfo`); `X-Forwarded-For` is
//!   believed only when the peer is a configured trusted proxy ([`ClientAddr`]);
//! * per username (trimmed, lower-cased), checked in the password sign-in handler before the
//!   password is, whoever asks and whether or not the account exists.
//!
//! Every try counts, right or wrong. A refused try is answered 429 with `Retry-After` and a
//! JSON error saying when to try again; it does not use up a try itself.

use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Sign-in tries allowed per username and per client address in each `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    pub per_username: u32,
    pub per_address: u32,
    pub window: Duration,
}

/// The time between two replenished tries, for `tries` per `window` (at least 1 ms).
fn period(tries: u32, window: Duration) -> Duration {
    (window / tries.max(1)).max(Duration::from_millis(1))
}

fn quota(tries: u32, window: Duration) -> Quota {
    let burst = NonZeroU32::new(tries).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period(tries, window))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// The 429 answer: `Retry-After` in whole seconds, rounded up (never 0, so a client that
/// waits as told is let in).
pub fn too_many_tries(wait: Duration, per: &str) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    ApiError::TooManyRequests {
        code: ErrorCode::TooManySignInAttempts,
        message: format!(
            "too many sign-in attempts {per}; try again in {secs} second{}",
            if secs == 1 { "" } else { "s" }
        ),
        retry_after_secs: secs,
    }
}

/// Keys kept before forgotten ones are swept (each is a few dozen bytes).
const SWEEP_AT: usize = 10_000;

/// Sign-in tries per key (a username, or a client address), `per` naming which in refusals
/// ("for this username").
#[derive(Debug)]
pub struct Throttle<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    per: &'static str,
    /// When the map was last swept, in whole seconds since `started`: a sweep walks and locks
    /// the whole map, so a flood of new keys may trigger it at most once a second.
    started: Instant,
    swept_at: AtomicU64,
}

/// Sign-in tries per username.
pub type UsernameThrottle = Throttle<String>;
/// Sign-in tries per client address.
pub type AddressThrottle = Throttle<IpAddr>;

impl<K: Hash + Eq + Clone> Throttle<K> {
    fn with(tries: u32, window: Duration, per: &'static str) -> Self {
        Throttle {
            limiter: RateLimiter::keyed(quota(tries, window)),
            per,
            started: Instant::now(),
            swept_at: AtomicU64::new(0),
        }
    }

    /// Forget keys whose buckets are full again (they carry no information), so made-up
    /// usernames or many addresses cannot grow the map without bound; at most once a second.
    fn sweep(&self) {
        let now = self.started.elapsed().as_secs();
        let last = self.swept_at.load(Ordering::Relaxed);
        if now > last
            && self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
        }
    }

    /// Use one try for `key`, or say when the next is due.
    fn take(&self, key: &K) -> Result<(), ApiError> {
        if self.limiter.len() > SWEEP_AT {
            self.sweep();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            too_many_tries(
                not_until.wait_time_from(DefaultClock::default().now()),
                self.per,
            )
        })
    }
}

impl UsernameThrottle {
    pub fn new(limits: SignInLimits) -> Self {
        Throttle::with(limits.per_username, limits.window, "for this username")
    }

    /// Use one try for `username` (already bounded in length), or say when the next is due.
    pub fn check(&self, username: &str) -> Result<(), ApiError> {
        self.take(&normalise_username(username))
    }
}

impl AddressThrottle {
    pub fn new(limits: SignInLimits) -> Self {
        Throttle::with(limits.per_address, limits.window, "from this address")
    }
}

/// A username as throttling and sign-in compare it: trimmed, ASCII lower case.
pub fn normalise_username(username: &str) -> String {
    username.trim().to_ascii_lowercase()
}

/// The client address of a request: the socket's peer, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    pub trusted_proxies: Arc<[IpAddr]>,
}

impl ClientAddr {
    fn of(&self, extensions: &Extensions, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
        else {
            // Served without connection info (embedded use): one bucket for everyone.
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(peer)
    }
}

/// A sign-in try the client's address had left: the sign-in handlers take it first, so a
/// request over the per-address limit is refused before anything else is read.
#[derive(Debug, Clone, Copy)]
pub struct AddressTry;

impl FromRequestParts<AppState> for AddressTry {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let addr = state.client_addr.of(&parts.extensions, &parts.headers);
        state.address_throttle.take(&addr)?;
        Ok(AddressTry)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    #[test]
    fn a_username_gets_its_burst_then_a_429_with_when_to_retry() {
        let throttle = UsernameThrottle::new(SignInLimits {
            per_username: 3,
            per_address: 100,
            window: Duration::from_secs(60),
        });
        for _ in 0..3 {
            throttle.check("Sw-A").expect("within the burst");
        }
        match throttle.check(" sw-a ") {
            Err(ApiError::TooManyRequests {
                retry_after_secs,
                message,
                ..
            }) => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
                assert!(message.contains("try again in"), "{message}");
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        throttle
            .check("sw-b")
            .expect("another username has its own tries");
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_a_trusted_proxy() {
        let request = |peer: &str, forwarded: &str| {
            let mut req = Request::builder()
                .header("x-forwarded-for", forwarded)
                .body(())
                .unwrap();
            req.extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            req
        };
        let none = ClientAddr {
            trusted_proxies: Arc::from(Vec::new()),
        };
        let req = request("192.0.2.7:5000", "198.51.100.1");
        assert_eq!(
            none.of(req.extensions(), req.headers()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        let proxy: IpAddr = "192.0.2.7".parse().unwrap();
        let trusting = ClientAddr {
            trusted_proxies: Arc::from(vec![proxy]),
        };
        let req = request("192.0.2.7:5000", "203.0.113.9, 198.51.100.1");
        assert_eq!(
            trusting.of(req.extensions(), req.headers()),
            "198.51.100.1".parse::<IpAddr>().unwrap(),
            "the last hop the proxy saw, not what the client claimed first"
        );
    }
}
