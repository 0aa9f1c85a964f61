//! `stellar-overlay bridge`: a WebSocket-to-TCP bridge for browser peers.
//!
//! Browsers cannot open TCP sockets, so a browser peer (the protocol core built for wasm)
//! reaches real nodes through this bridge. The browser performs the whole Stellar
//! handshake itself: the bridge never parses the protocol and never holds keys. It only
//! relays bytes, unchanged, both ways.
//!
//! # URL scheme
//!
//! * `ws://LISTEN/connect?target=HOST:PORT` opens a relay to `HOST:PORT` (percent-encode
//!   IPv6 brackets if your client insists: `target=%5B::1%5D:11625`).
//! * `GET http://LISTEN/targets` answers the allowlist as JSON:
//!   `{"targets":[{"target":"127.0.0.1:11625","addresses":["127.0.0.1:11625"],
//!   "path":"/connect?target=127.0.0.1:11625"}]}` (with CORS headers, so a page on another
//!   origin can read it).
//!
//! # The byte stream
//!
//! Each binary message from the browser is written to TCP as is. Bytes read from TCP are
//! sent as binary messages of at most [`BridgeConfig::chunk_size`] bytes, cut wherever the
//! reads fall: message boundaries are NOT Stellar frame boundaries, so the browser must
//! treat the messages as one byte stream (as the core's `handle_input` does). A browser
//! message may be at most [`BridgeConfig::max_message_size`] bytes: split larger writes.
//! Text messages are refused (1003). No subprotocol is negotiated: open the socket
//! without one, with `binaryType = "arraybuffer"`.
//!
//! The upgrade completes (the browser's `open` event) before the bridge dials the target,
//! so a refusal or an unreachable target arrives as a close after `open`. The browser may
//! send its HELLO at once: what it sends while the bridge dials waits in the socket.
//!
//! # What is refused, and how
//!
//! Refusals accept the WebSocket upgrade and then close with a code and reason, so the
//! browser's `CloseEvent` tells why:
//!
//! | why | code | reason |
//! | --- | --- | --- |
//! | `Origin` not on a non-empty origin list | 1008 | `origin not allowed` |
//! | missing or malformed `target` | 1008 | `bad target: use /connect?target=HOST:PORT` |
//! | target (resolved to IP:port) not on the allowlist | 1008 | `target not allowed` |
//! | per-client-IP or total relay limit reached | 1013 | `too many connections` |
//! | TCP connect failed or timed out | 1011 | `cannot reach target: …` |
//! | no bytes either way for the idle timeout | 1000 | `idle timeout` |
//! | the target closed its side | 1000 | `target closed` |
//! | the target connection failed (reset, write error) | 1011 | `target connection lost: …` |
//! | a browser message over the size limit | 1009 | `message too big` |
//! | a text message | 1003 | `binary messages only` |
//! | a WebSocket protocol error | 1002 | `protocol error` |
//! | the bridge stops | 1001 | `bridge shutting down` |
//!
//! When the browser closes, the bridge shuts down the TCP write side (the target reads
//! EOF), answers the close, and drains what the target still sends for a moment before
//! closing the socket (closing with unread input would reset the connection).
//!
//! # Never an open proxy
//!
//! The allowlist entries are resolved once, at start, to IP:port sets. A requested target
//! is resolved too (literal addresses without DNS) and only its addresses that are on the
//! allowlist are dialled; a target with none is refused.
//!
//! # Bounds
//!
//! * relays per client IP ([`DEFAULT_MAX_PER_IP`]; IPv6 clients count per /64) and in total
//!   ([`DEFAULT_MAX_TOTAL`]), refused with 1013 beyond (behind a reverse proxy every client
//!   has the proxy's IP: raise the per-IP limit there);
//! * open sockets, counting plain HTTP and refusals in progress: the relay limits plus
//!   [`SOCKET_SLACK_PER_IP`] per client IP and [`SOCKET_SLACK`] in total; sockets beyond
//!   are closed at once, without an answer;
//! * a socket with no bytes either way for the idle timeout plus [`SOCKET_IDLE_GRACE`]
//!   fails (idle HTTP keep-alive connections, stuck clients);
//! * buffering: each direction holds at most one chunk in flight (one browser message, or
//!   one TCP read of `chunk_size`), and stops reading its source until the chunk is written
//!   to its destination: backpressure from either side reaches the other;
//! * the WebSocket write buffer is bounded too (two chunks and a frame's overhead);
//! * the idle timeout ([`DEFAULT_IDLE_TIMEOUT`]) counts bytes relayed either way only.
//!
//! # Origins
//!
//! With an empty origin list (the default) any page may connect, which suits a bridge on
//! loopback for development. Otherwise the request's `Origin` must equal one of the list
//! (scheme, host and port; case and a trailing `/` do not matter), and a request without
//! `Origin` is refused too. A local network passes its own page's origin.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

/// Relays one client IP may hold at once.
pub const DEFAULT_MAX_PER_IP: usize = 8;
/// Relays the bridge holds at once.
pub const DEFAULT_MAX_TOTAL: usize = 256;
/// No bytes either way for this long closes a relay.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest message a browser may send.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
/// The largest TCP read, hence the largest message sent to the browser.
pub const DEFAULT_CHUNK_SIZE: usize = 64 << 10;
/// How long dialling a target may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The port `stellar-overlay bridge` listens on by default (beside stellar-core's 11625
/// peer and 11626 HTTP ports).
pub const DEFAULT_PORT: u16 = 11627;

/// Where `stellar-overlay bridge` listens by default: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DEFAULT_PORT));

/// Open sockets a client IP may hold beyond its relays (HTTP requests, refusals closing).
pub const SOCKET_SLACK_PER_IP: usize = 8;
/// Open sockets beyond the relay total.
pub const SOCKET_SLACK: usize = 64;
/// A socket idle this long beyond the idle timeout fails.
pub const SOCKET_IDLE_GRACE: Duration = Duration::from_secs(10);

/// Close codes (RFC 6455 §7.4.1).
pub mod close {
    /// Normal closure: the target closed, or the relay was idle.
    pub const NORMAL: u16 = 1000;
    /// The bridge is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A WebSocket protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// A text message.
    pub const UNSUPPORTED: u16 = 1003;
    /// Origin or target refused.
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The target cannot be reached, or its connection failed.
    pub const INTERNAL: u16 = 1011;
    /// Too many connections: try again later.
    pub const TRY_AGAIN: u16 = 1013;

    pub const ORIGIN_NOT_ALLOWED: &str = "origin not allowed";
    pub const BAD_TARGET: &str = "bad target: use /connect?target=HOST:PORT";
    pub const TARGET_NOT_ALLOWED: &str = "target not allowed";
    pub const TOO_MANY: &str = "too many connections";
    /// Followed by the error.
    pub const CANNOT_REACH: &str = "cannot reach target: ";
    /// Followed by the error.
    pub const TARGET_LOST: &str = "target connection lost: ";
    pub const TARGET_CLOSED: &str = "target closed";
    pub const IDLE: &str = "idle timeout";
    pub const MESSAGE_TOO_BIG: &str = "message too big";
    pub const BINARY_ONLY: &str = "binary messages only";
    pub const PROTOCOL_ERROR: &str = "protocol error";
    pub const SHUTTING_DOWN: &str = "bridge shutting down";
}

/// How long closing a WebSocket waits for the client's answer.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long a relay whose browser closed drains what the target still sends.
const LINGER: Duration = Duration::from_secs(2);
/// How long resolving a host name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest close reason a close frame carries (125 bytes less the code).
const MAX_REASON: usize = 123;

/// What a bridge serves.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Where to listen (port 0: any free port, see [`BridgeHandle::local_addr`]).
    pub listen: SocketAddr,
    /// The targets browsers may reach, `HOST:PORT`; resolved at start.
    pub allow: Vec<String>,
    /// Page origins allowed to connect (empty: any).
    pub origins: Vec<String>,
    pub max_per_ip: usize,
    pub max_total: usize,
    pub idle_timeout: Duration,
    pub max_message_size: usize,
    pub chunk_size: usize,
    pub connect_timeout: Duration,
}

impl BridgeConfig {
    /// The defaults, listening on `listen` and allowing `allow`.
    pub fn new(listen: SocketAddr, allow: impl IntoIterator<Item = impl ToString>) -> Self {
        BridgeConfig {
            listen,
            allow: allow.into_iter().map(|a| a.to_string()).collect(),
            ..BridgeConfig::default()
        }
    }
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            listen: DEFAULT_LISTEN,
            allow: Vec::new(),
            origins: Vec::new(),
            max_per_ip: DEFAULT_MAX_PER_IP,
            max_total: DEFAULT_MAX_TOTAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            chunk_size: DEFAULT_CHUNK_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// An allowlist entry and the addresses it resolved to.
#[derive(Debug, Clone)]
pub struct AllowedTarget {
    pub target: String,
    pub addresses: Vec<SocketAddr>,
}

/// A running bridge. Dropping it stops the bridge too; [`BridgeHandle::shutdown`] also
/// waits for the relays to close.
pub struct BridgeHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl fmt::Debug for BridgeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeHandle")
            .field("addr", &self.addr)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl BridgeHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL reaching `target` (`HOST:PORT`) through this bridge.
    pub fn url(&self, target: &str) -> String {
        format!("ws://{}{}", self.addr, connect_path(target))
    }

    /// The URL of the allowlist document.
    pub fn targets_url(&self) -> String {
        format!("http://{}/targets", self.addr)
    }

    /// The allowlist as resolved at start.
    pub fn allowed(&self) -> &[AllowedTarget] {
        &self.shared.allowed
    }

    /// Relays open now (including those still dialling).
    pub fn connections(&self) -> usize {
        self.shared.relays.total()
    }

    /// Stops accepting, closes every relay with 1001 and waits (a few seconds at most) for
    /// them to finish.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + CLOSE_WAIT + LINGER + Duration::from_secs(1);
        let _ = tokio::time::timeout_at(deadline, self.server).await;
        while self.shared.relays.total() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// Starts a bridge: resolves the allowlist, binds, and serves in the background.
pub async fn serve(config: BridgeConfig) -> anyhow::Result<BridgeHandle> {
    anyhow::ensure!(
        !config.allow.is_empty(),
        "the bridge needs at least one allowed target (HOST:PORT)"
    );
    anyhow::ensure!(
        config.max_per_ip >= 1 && config.max_total >= 1,
        "connection limits must be at least 1"
    );
    anyhow::ensure!(
        config.max_message_size >= 1 && config.chunk_size >= 1,
        "message and chunk sizes must be at least 1 byte"
    );
    anyhow::ensure!(
        !config.idle_timeout.is_zero(),
        "the idle timeout must be positive"
    );
    let mut allowed = Vec::new();
    for target in &config.allow {
        anyhow::ensure!(
            parse_target(target).is_some(),
            "allowed target {target:?} is not HOST:PORT"
        );
        let mut addresses: Vec<SocketAddr> = resolve(target)
            .await
            .with_context(|| format!("cannot resolve allowed target {target}"))?
            .into_iter()
            .map(canonical)
            .collect();
        addresses.sort();
        addresses.dedup();
        anyhow::ensure!(
            !addresses.is_empty(),
            "allowed target {target} resolves to no address"
        );
        allowed.push(AllowedTarget {
            target: target.clone(),
            addresses,
        });
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}: is it in use?", config.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        origins: config.origins.iter().map(|o| normalize_origin(o)).collect(),
        relays: Slots::new(config.max_per_ip, config.max_total),
        allowed,
        stop: stop_rx.clone(),
        config,
    });
    let listener = BridgeListener {
        inner: listener,
        sockets: Slots::new(
            shared.config.max_per_ip + SOCKET_SLACK_PER_IP,
            shared.config.max_total + SOCKET_SLACK,
        ),
        idle: shared.config.idle_timeout + SOCKET_IDLE_GRACE,
    };
    let app = Router::new()
        .route("/", get(index))
        .route("/connect", get(connect))
        .route("/targets", get(targets))
        .with_state(Arc::clone(&shared));
    let server = tokio::spawn(async move {
        let mut stop = stop_rx;
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ClientAddr>(),
        )
        .with_graceful_shutdown(async move { stopped(&mut stop).await })
        .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "bridge server stopped");
        }
    });
    tracing::info!(
        %addr,
        targets = ?shared.config.allow,
        origins = ?shared.config.origins,
        "bridge listening"
    );
    Ok(BridgeHandle {
        addr,
        stop,
        server,
        shared,
    })
}

/// `stellar-overlay bridge`: serves until `shutdown` resolves, printing where.
pub async fn run(config: BridgeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Poll `shutdown` once first, so that a signal handler behind it is in place before
    // anyone learns where the bridge listens.
    tokio::pin!(shutdown);
    tokio::select! {
        biased;
        () = &mut shutdown => return Ok(()),
        () = std::future::ready(()) => {}
    }
    let handle = serve(config).await?;
    let addr = handle.local_addr();
    println!("bridge listening on ws://{addr}/connect?target=HOST:PORT");
    for t in handle.allowed() {
        let addresses: Vec<String> = t.addresses.iter().map(ToString::to_string).collect();
        println!(
            "allowed target {} ({}): {}",
            t.target,
            addresses.join(", "),
            handle.url(&t.target)
        );
    }
    println!("allowlist as JSON: {}", handle.targets_url());
    if handle.shared.config.origins.is_empty() {
        println!("origins: any (restrict with --origin URL)");
    } else {
        println!("origins: {}", handle.shared.config.origins.join(" "));
    }
    shutdown.await;
    println!("stopping...");
    handle.shutdown().await
}

/// State shared by the handlers.
struct Shared {
    config: BridgeConfig,
    allowed: Vec<AllowedTarget>,
    /// Normalized.
    origins: Vec<String>,
    relays: Arc<Slots>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn origin_allowed(&self, origin: Option<&str>) -> bool {
        self.origins.is_empty()
            || origin.is_some_and(|o| self.origins.contains(&normalize_origin(o)))
    }

    fn is_allowed(&self, addr: SocketAddr) -> bool {
        let addr = canonical(addr);
        self.allowed.iter().any(|t| t.addresses.contains(&addr))
    }

    /// The target's addresses that are on the allowlist (empty: refuse).
    async fn allowed_addresses(&self, target: &str) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        if let Ok(addrs) = resolve(target).await {
            for a in addrs.into_iter().map(canonical) {
                if self.is_allowed(a) && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// Decides before the upgrade: a relay slot, or the close code and reason to refuse.
    fn admit(
        &self,
        client: SocketAddr,
        origin: Option<&str>,
        target: Option<&str>,
    ) -> Result<Slot, (u16, String)> {
        if !self.origin_allowed(origin) {
            return Err((close::POLICY, close::ORIGIN_NOT_ALLOWED.into()));
        }
        let Some(target) = target.filter(|t| parse_target(t).is_some()) else {
            return Err((close::POLICY, close::BAD_TARGET.into()));
        };
        // Literal addresses are checked at once; host names once resolved, within a slot.
        if let Ok(addr) = target.parse::<SocketAddr>()
            && !self.is_allowed(addr)
        {
            return Err((close::POLICY, close::TARGET_NOT_ALLOWED.into()));
        }
        self.relays
            .try_acquire(client.ip())
            .map_err(|_| (close::TRY_AGAIN, close::TOO_MANY.into()))
    }
}

/// `/connect?target=HOST:PORT`.
fn connect_path(target: &str) -> String {
    let mut enc = String::new();
    for c in target.chars() {
        match c {
            '[' => enc.push_str("%5B"),
            ']' => enc.push_str("%5D"),
            '%' => enc.push_str("%25"),
            '&' => enc.push_str("%26"),
            '#' => enc.push_str("%23"),
            '+' => enc.push_str("%2B"),
            ' ' => enc.push_str("%20"),
            c => enc.push(c),
        }
    }
    format!("/connect?target={enc}")
}

/// `HOST:PORT` with a non-zero port: an IP socket address, or a plausible host name.
fn parse_target(target: &str) -> Option<()> {
    if target.len() > 260 {
        return None;
    }
    if let Ok(a) = target.parse::<SocketAddr>() {
        return (a.port() != 0).then_some(());
    }
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    (port != 0 && host_ok).then_some(())
}

/// Resolves `HOST:PORT` (literal addresses without DNS).
async fn resolve(target: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(a) = target.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(target)).await {
        Ok(addrs) => Ok(addrs?.collect()),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "name resolution timed out",
        )),
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so both spellings compare equal.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

fn normalize_origin(o: &str) -> String {
    o.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whom limits count: the IP, or an IPv6 client's /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The close reason, cut to what a close frame carries (on a character boundary).
fn reason_text(reason: &str) -> String {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// Counts holders per client and in total, within limits.
#[derive(Debug)]
struct Slots {
    per_ip: usize,
    total: usize,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    by_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Which limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Full {
    Ip,
    Total,
}

impl Slots {
    fn new(per_ip: usize, total: usize) -> Arc<Slots> {
        Arc::new(Slots {
            per_ip,
            total,
            state: Mutex::new(SlotState::default()),
        })
    }

    fn total(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        let key = client_key(ip);
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.total >= self.total {
            return Err(Full::Total);
        }
        let n = s.by_ip.entry(key).or_insert(0);
        if *n >= self.per_ip {
            return Err(Full::Ip);
        }
        *n += 1;
        s.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            key,
        })
    }
}

/// One counted holder; released when dropped.
#[derive(Debug)]
struct Slot {
    slots: Arc<Slots>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self
            .slots
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.by_ip.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.by_ip.remove(&self.key);
            }
        }
    }
}

/// The listener: counts open sockets (closing those beyond the limits at once), sets
/// TCP_NODELAY and fails sockets idle too long.
struct BridgeListener {
    inner: TcpListener,
    sockets: Arc<Slots>,
    idle: Duration,
}

impl Listener for BridgeListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "bridge accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = match self.sockets.try_acquire(addr.ip()) {
                Ok(slot) => slot,
                Err(full) => {
                    tracing::debug!(client = %addr, ?full, "bridge socket limit: closed at once");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let deadline = Box::pin(tokio::time::sleep(self.idle));
            return (
                Conn {
                    stream,
                    idle: self.idle,
                    deadline,
                    _slot: slot,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The client's address, for the handlers.
#[derive(Debug, Clone, Copy)]
struct ClientAddr(SocketAddr);

impl Connected<IncomingStream<'_, BridgeListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, BridgeListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// An accepted socket, holding its place in the socket count until closed.
struct Conn {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _slot: Slot,
}

impl Conn {
    fn touch(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle socket")))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Resolves when the bridge stops (or its handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn index() -> &'static str {
    "stellar-overlay WebSocket-to-TCP bridge\n\
     ws://THIS/connect?target=HOST:PORT relays bytes to an allowed target\n\
     GET /targets lists the allowed targets\n"
}

/// `GET /targets`: the allowlist.
async fn targets(State(st): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let list: Vec<_> = st
        .allowed
        .iter()
        .map(|t| {
            json!({
                "target": t.target,
                "addresses": t.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "path": connect_path(&t.target),
            })
        })
        .collect();
    let mut resp = axum::Json(json!({ "targets": list })).into_response();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let h = resp.headers_mut();
    if st.origins.is_empty() {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if let Some(o) = origin.filter(|o| st.origin_allowed(Some(o)))
        && let Ok(v) = HeaderValue::from_str(o)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

/// `/connect?target=HOST:PORT`: the WebSocket relay.
async fn connect(
    State(st): State<Arc<Shared>>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let cfg = &st.config;
    let ws = ws
        .max_message_size(cfg.max_message_size)
        .max_frame_size(cfg.max_message_size)
        .write_buffer_size(cfg.chunk_size)
        .max_write_buffer_size(2 * cfg.chunk_size + 4096);
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let target = query.get("target").map(String::as_str);
    match st.admit(client, origin, target) {
        Ok(slot) => {
            let target = target.unwrap_or_default().to_string();
            ws.on_upgrade(move |socket| serve_relay(socket, st, client, target, slot))
        }
        Err((code, reason)) => {
            tracing::info!(%client, ?target, ?origin, code, %reason, "bridge refused");
            ws.on_upgrade(move |mut socket| async move {
                close_ws(&mut socket, code, &reason).await;
            })
        }
    }
}

/// Sends a close frame and waits (briefly) for the client's answer.
async fn close_ws(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason_text(reason).into(),
    }));
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if socket.send(frame).await.is_err() {
            return;
        }
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Dials the first reachable of `addrs`.
async fn dial(addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting timed out after {} s", timeout.as_secs_f64()),
                );
            }
        }
    }
    Err(last)
}

/// A relay's end.
#[derive(Debug)]
enum End {
    /// The browser sent a close frame.
    ClientClosed,
    /// The WebSocket ended without a close, or failed.
    ClientGone,
    TooBig,
    ProtocolError,
    Text,
    TargetClosed,
    TargetLost(io::Error),
    Idle,
    Shutdown,
}

async fn serve_relay(
    mut socket: WebSocket,
    st: Arc<Shared>,
    client: SocketAddr,
    target: String,
    slot: Slot,
) {
    let _slot = slot;
    let mut stop = st.stop.clone();
    let addrs = st.allowed_addresses(&target).await;
    if addrs.is_empty() {
        tracing::info!(%client, %target, "bridge refused: target not allowed");
        close_ws(&mut socket, close::POLICY, close::TARGET_NOT_ALLOWED).await;
        return;
    }
    let dialled = tokio::select! {
        r = dial(&addrs, st.config.connect_timeout) => r,
        () = stopped(&mut stop) => {
            close_ws(&mut socket, close::GOING_AWAY, close::SHUTTING_DOWN).await;
            return;
        }
    };
    let tcp = match dialled {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::info!(%client, %target, error = %e, "bridge cannot reach target");
            close_ws(
                &mut socket,
                close::INTERNAL,
                &format!("{}{e}", close::CANNOT_REACH),
            )
            .await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let remote = tcp.peer_addr().ok();
    tracing::info!(%client, %target, ?remote, "bridge relaying");
    let started = Instant::now();
    let (end, up, down) = relay(socket, tcp, &st.config, &mut stop).await;
    tracing::info!(
        %client,
        %target,
        ?end,
        bytes_to_target = up,
        bytes_to_client = down,
        secs = started.elapsed().as_secs_f64(),
        "bridge relay closed"
    );
}

/// Relays until either side ends, the relay idles or the bridge stops; then closes both
/// sides. Returns how it ended and the bytes relayed each way.
async fn relay(
    socket: WebSocket,
    tcp: TcpStream,
    cfg: &BridgeConfig,
    stop: &mut watch::Receiver<bool>,
) -> (End, u64, u64) {
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut tcp_r, mut tcp_w) = tcp.into_split();
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let up_bytes = AtomicU64::new(0);
    let down_bytes = AtomicU64::new(0);
    let touch = || last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    let end = {
        // Browser → target: one message in flight; the next is read once it is written.
        let up = async {
            loop {
                let msg = match ws_rx.next().await {
                    None => return End::ClientGone,
                    Some(Err(e)) => return ws_error(e),
                    Some(Ok(m)) => m,
                };
                match msg {
                    Message::Binary(b) => {
                        touch();
                        if let Err(e) = tcp_w.write_all(&b).await {
                            return End::TargetLost(e);
                        }
                        up_bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        touch();
                    }
                    Message::Text(_) => return End::Text,
                    Message::Close(_) => return End::ClientClosed,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        };
        // Target → browser: one read in flight; the next once it is sent.
        let down = async {
            let mut buf = vec![0u8; cfg.chunk_size];
            loop {
                match tcp_r.read(&mut buf).await {
                    Ok(0) => return End::TargetClosed,
                    Err(e) => return End::TargetLost(e),
                    Ok(n) => {
                        touch();
                        let msg = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                        if ws_tx.send(msg).await.is_err() {
                            return End::ClientGone;
                        }
                        down_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        touch();
                    }
                }
            }
        };
        let idle = async {
            loop {
                let at =
                    start + Duration::from_millis(last.load(Ordering::Relaxed)) + cfg.idle_timeout;
                if Instant::now() >= at {
                    return End::Idle;
                }
                tokio::time::sleep_until(at).await;
            }
        };
        tokio::select! {
            e = up => e,
            e = down => e,
            e = idle => e,
            () = stopped(stop) => End::Shutdown,
        }
    };
    let counts = (
        up_bytes.load(Ordering::Relaxed),
        down_bytes.load(Ordering::Relaxed),
    );
    let Ok(mut socket) = ws_rx.reunite(ws_tx) else {
        return (end, counts.0, counts.1);
    };
    let code_reason = match &end {
        End::ClientClosed | End::ClientGone => None,
        End::TargetClosed => Some((close::NORMAL, close::TARGET_CLOSED.to_string())),
        End::TargetLost(e) => Some((close::INTERNAL, format!("{}{e}", close::TARGET_LOST))),
        End::TooBig => Some((close::TOO_BIG, close::MESSAGE_TOO_BIG.to_string())),
        End::ProtocolError => Some((close::PROTOCOL, close::PROTOCOL_ERROR.to_string())),
        End::Text => Some((close::UNSUPPORTED, close::BINARY_ONLY.to_string())),
        End::Idle => Some((close::NORMAL, close::IDLE.to_string())),
        End::Shutdown => Some((close::GOING_AWAY, close::SHUTTING_DOWN.to_string())),
    };
    match code_reason {
        Some((code, reason)) => {
            close_ws(&mut socket, code, &reason).await;
            let _ = tokio::time::timeout(CLOSE_WAIT, tcp_w.shutdown()).await;
        }
        None => {
            // The browser is done: the target reads EOF, the close is answered, and what
            // the target still sends is drained so that closing does not reset.
            let _ = tokio::time::timeout(CLOSE_WAIT, tcp_w.shutdown()).await;
            let _ = tokio::time::timeout(CLOSE_WAIT, socket.close()).await;
            drop(socket);
            let _ = tokio::time::timeout(LINGER, async {
                let mut buf = vec![0u8; 16 << 10];
                while let Ok(n) = tcp_r.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
    }
    (end, counts.0, counts.1)
}

/// A WebSocket read error's end: too big, a protocol error, or a gone client.
fn ws_error(e: axum::Error) -> End {
    let inner = e.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => End::TooBig,
        Some(tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_)) => End::ProtocolError,
        _ => End::ClientGone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert!(parse_target("127.0.0.1:11625").is_some());
        assert!(parse_target("[::1]:11625").is_some());
        assert!(parse_target("core-testnet1.stellar.org:11625").is_some());
        assert!(parse_target("127.0.0.1:0").is_none());
        assert!(parse_target("127.0.0.1").is_none());
        assert!(parse_target(":11625").is_none());
        assert!(parse_target("a b:1").is_none());
        assert!(parse_target("host:99999").is_none());
    }

    #[test]
    fn limits_count_and_release() {
        let s = Slots::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "10.0.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let a1 = s.try_acquire(a);
        let a2 = s.try_acquire(a);
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(s.try_acquire(a).err(), Some(Full::Ip));
        let b1 = s.try_acquire(b);
        assert!(b1.is_ok());
        assert_eq!(s.try_acquire(b).err(), Some(Full::Total));
        drop(a1);
        let b2 = s.try_acquire(b);
        assert!(b2.is_ok());
        assert_eq!(s.total(), 3);
        drop((a2, b1, b2));
        assert_eq!(s.total(), 0);
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a: IpAddr = "2001:db8:1:2::5".parse().unwrap_or(IpAddr::from([0; 16]));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 16]));
        assert_eq!(client_key(a), client_key(b));
        let m: IpAddr = "::ffff:1.2.3.4".parse().unwrap_or(IpAddr::from([0; 16]));
        assert_eq!(client_key(m), IpAddr::from([1, 2, 3, 4]));
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        let long = "é".repeat(100);
        let r = reason_text(&long);
        assert!(r.len() <= MAX_REASON && long.starts_with(&r));
        assert_eq!(connect_path("[::1]:1"), "/connect?target=%5B::1%5D:1");
    }
}
