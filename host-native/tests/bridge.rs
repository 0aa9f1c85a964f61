//! The WebSocket-to-TCP bridge: bytes relayed unchanged both ways, a real Stellar
//! handshake through it, and every refusal with its close code and reason.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use host_native::bridge::{self, BridgeConfig, BridgeHandle, close};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use futures_util::{SinkExt, StreamExt};

type Ws = WebSocketStream<TcpStream>;

const WAIT: Duration = Duration::from_secs(10);

/// A TCP echo server; each connection reports the bytes it received once it read EOF.
async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (mut r, mut w) = stream.into_split();
                let mut got = Vec::new();
                let mut buf = vec![0u8; 32 << 10];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            got.extend_from_slice(&buf[..n]);
                            if w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = w.shutdown().await;
                let _ = tx.send(got);
            });
        }
    });
    (addr, rx)
}

/// A port nothing listens on.
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Deterministic bytes covering every value.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn config(allow: &[SocketAddr]) -> BridgeConfig {
    BridgeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), allow)
}

/// Opens a WebSocket to `url`, from `from` (a loopback address) if given, with `origin`.
async fn open_from(url: &str, origin: Option<&str>, from: Option<IpAddr>) -> Ws {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let host: SocketAddr = req.uri().authority().unwrap().as_str().parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    let stream = socket.connect(host).await.unwrap();
    let (ws, resp) = timeout(WAIT, client_async(req, stream))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 101, "the upgrade is accepted even to refuse");
    ws
}

async fn open(url: &str) -> Ws {
    open_from(url, None, None).await
}

/// Reads until the bridge's close frame; returns its code and reason, and the data seen.
async fn closed(ws: &mut Ws) -> (u16, String, Vec<u8>) {
    let mut data = Vec::new();
    let r = timeout(WAIT, async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Binary(b)) => data.extend_from_slice(&b),
                Ok(Message::Close(Some(f))) => return (u16::from(f.code), f.reason.to_string()),
                Ok(Message::Close(None)) => return (1005, String::new()),
                Ok(_) => {}
                Err(e) => panic!("WebSocket error before a close frame: {e}"),
            }
        }
        panic!("WebSocket ended without a close frame")
    })
    .await
    .expect("no close frame in time");
    (r.0, r.1, data)
}

/// Sends `data` and reads the echo back (any message split).
async fn echo(ws: &mut Ws, data: &[u8]) {
    ws.send(Message::Binary(Bytes::copy_from_slice(data)))
        .await
        .unwrap();
    let mut got = Vec::new();
    timeout(WAIT, async {
        while got.len() < data.len() {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
                Some(Ok(Message::Close(f))) => panic!("closed instead of echoing: {f:?}"),
                Some(Ok(_)) => {}
                other => panic!("no echo: {other:?}"),
            }
        }
    })
    .await
    .expect("echo in time");
    assert_eq!(got, data);
}

async fn client_close(ws: &mut Ws) {
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    // The bridge answers the close, then ends the connection.
    timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} })
        .await
        .unwrap();
}

async fn until_connections(b: &BridgeHandle, n: usize) {
    let deadline = Instant::now() + WAIT;
    while b.connections() != n {
        assert!(
            Instant::now() < deadline,
            "bridge connections stayed {} (want {n})",
            b.connections()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_bytes_unchanged_both_ways() {
    let (echo_addr, mut received) = echo_server().await;
    let b = bridge::serve(config(&[echo_addr])).await.unwrap();
    let mut ws = open(&b.url(&echo_addr.to_string())).await;
    let mut sent = Vec::new();
    // Every size up to the message limit, each echoed back byte for byte.
    for (i, len) in [1usize, 2, 300, 65_535, 65_536, 65_537, 300_000, 1 << 20]
        .into_iter()
        .enumerate()
    {
        let data = pattern(len, i as u32);
        echo(&mut ws, &data).await;
        sent.extend_from_slice(&data);
    }
    assert_eq!(b.connections(), 1);
    // The browser closes: the target reads EOF after exactly what was sent.
    client_close(&mut ws).await;
    let got = timeout(WAIT, received.recv()).await.unwrap().unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the target got the bytes unchanged");
    until_connections(&b, 0).await;
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_closing_closes_the_websocket_after_its_last_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let said = pattern(500_000, 9);
    let to_say = said.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(&to_say).await.unwrap();
        s.shutdown().await.unwrap();
        // Drain until the bridge closes too.
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
    let b = bridge::serve(config(&[addr])).await.unwrap();
    let mut ws = open(&b.url(&addr.to_string())).await;
    let mut data = Vec::new();
    let mut largest = 0;
    let (code, reason) = timeout(WAIT, async {
        loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(bytes) => {
                    largest = largest.max(bytes.len());
                    data.extend_from_slice(&bytes);
                }
                Message::Close(Some(f)) => return (u16::from(f.code), f.reason.to_string()),
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (code, reason.as_str()),
        (close::NORMAL, close::TARGET_CLOSED)
    );
    assert!(
        data == said,
        "every byte arrived, unchanged, before the close"
    );
    assert!(largest <= bridge::DEFAULT_CHUNK_SIZE, "chunks are bounded");
    until_connections(&b, 0).await;
}

/// Drives an `overlay_core::Peer` over the bridge to a real node: HELLO and AUTH both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stellar_handshake_through_the_bridge() {
    use host_native::localnet::{self, LocalnetOptions};
    use host_native::single::{self, Options, random32};
    use overlay_core::{AcceptAll, Event, Instant as CoreInstant, Peer, PeerSetup, Role};

    let net = localnet::start(&LocalnetOptions {
        nodes: 1,
        slot_secs: 0.0,
        tx_rate: 0,
        http: false,
        ..LocalnetOptions::default()
    })
    .await
    .unwrap();
    let node = net.nodes[0].handle.peer_addr;
    let node_id = net.nodes[0].handle.node_id;
    let b = bridge::serve(config(&[node])).await.unwrap();
    let mut ws = open(&b.url(&node.to_string())).await;

    let local = Arc::new(
        single::local_node(&Options {
            passphrase: localnet::LOCALNET_PASSPHRASE.into(),
            ..Options::default()
        })
        .unwrap(),
    );
    let start = Instant::now();
    let now = || CoreInstant::from_micros(start.elapsed().as_micros() as u64);
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut peer = Peer::new(
        PeerSetup {
            role: Role::Initiator,
            local: Arc::clone(&local),
            cert: local.issue_cert(unix),
            nonce: random32().unwrap(),
            remote_address: Some(node),
            config: overlay_core::PeerConfig::default(),
            clock: overlay_core::WallClock::new(now(), unix),
        },
        now(),
    );
    let mut hello = None;
    let mut authenticated = None;
    timeout(WAIT, async {
        while authenticated.is_none() {
            while peer.has_output() {
                let mut out = Vec::new();
                peer.poll_transmit(now(), &mut out);
                ws.send(Message::Binary(out.into())).await.unwrap();
            }
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(bytes) => {
                    let mut data = &bytes[..];
                    while !data.is_empty() {
                        let took = peer.handle_input(now(), data);
                        data = &data[took..];
                        while let Some(ev) = peer.poll(now(), &mut AcceptAll) {
                            match ev {
                                Event::Hello(r) => hello = Some(r.node_id),
                                Event::Authenticated(r) => authenticated = Some(r.node_id),
                                Event::Closed(reason) => panic!("closed: {reason}"),
                                _ => {}
                            }
                        }
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("handshake in time");
    assert_eq!(
        hello,
        Some(node_id),
        "the node's HELLO came back through the bridge"
    );
    assert_eq!(authenticated, Some(node_id));
    assert!(peer.is_authenticated());
    client_close(&mut ws).await;
    b.shutdown().await.unwrap();
    net.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_targets_not_on_the_allowlist() {
    let (echo_addr, _rx) = echo_server().await;
    // A listener that must never be reached.
    let decoy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let decoy_addr = decoy.local_addr().unwrap();
    let b = bridge::serve(config(&[echo_addr])).await.unwrap();
    let base = format!("ws://{}", b.local_addr());

    for target in [
        decoy_addr.to_string(),
        format!("localhost:{}", decoy_addr.port()),
        format!("127.0.0.2:{}", echo_addr.port()),
        format!("[::1]:{}", echo_addr.port()),
    ] {
        let mut ws = open(&b.url(&target)).await;
        let (code, reason, data) = closed(&mut ws).await;
        assert_eq!(
            (code, reason.as_str()),
            (close::POLICY, close::TARGET_NOT_ALLOWED),
            "{target}"
        );
        assert!(data.is_empty());
    }
    for bad in [
        "/connect",
        "/connect?target=",
        "/connect?target=nonsense",
        "/connect?target=127.0.0.1:0",
    ] {
        let mut ws = open(&format!("{base}{bad}")).await;
        let (code, reason, _) = closed(&mut ws).await;
        assert_eq!(
            (code, reason.as_str()),
            (close::POLICY, close::BAD_TARGET),
            "{bad}"
        );
    }
    assert!(
        timeout(Duration::from_millis(200), decoy.accept())
            .await
            .is_err(),
        "nothing off the allowlist is ever dialled"
    );
    // The same target by another name is allowed once resolved.
    let mut ws = open(&b.url(&format!("localhost:{}", echo_addr.port()))).await;
    echo(&mut ws, b"by name").await;
    client_close(&mut ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_origins() {
    let (echo_addr, _rx) = echo_server().await;
    let b = bridge::serve(BridgeConfig {
        origins: vec!["http://good.example:8080".into()],
        ..config(&[echo_addr])
    })
    .await
    .unwrap();
    let url = b.url(&echo_addr.to_string());
    for origin in [
        Some("http://evil.example"),
        Some("http://good.example:8081"),
        None,
    ] {
        let mut ws = open_from(&url, origin, None).await;
        let (code, reason, _) = closed(&mut ws).await;
        assert_eq!(
            (code, reason.as_str()),
            (close::POLICY, close::ORIGIN_NOT_ALLOWED),
            "{origin:?}"
        );
    }
    let mut ws = open_from(&url, Some("HTTP://good.example:8080/"), None).await;
    echo(&mut ws, b"welcome").await;
    client_close(&mut ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_connections_per_ip_and_in_total() {
    let (echo_addr, _rx) = echo_server().await;
    let b = bridge::serve(BridgeConfig {
        max_per_ip: 3,
        max_total: 5,
        ..config(&[echo_addr])
    })
    .await
    .unwrap();
    let url = b.url(&echo_addr.to_string());
    let one: IpAddr = [127, 0, 0, 1].into();
    let two: IpAddr = [127, 0, 0, 2].into();

    // A flood of 6 at once from one IP: 3 relay, the others are told to try later.
    let tries: Vec<_> = (0..6)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut ws = open_from(&url, None, Some(one)).await;
                let msg = format!("hello {i}");
                ws.send(Message::Binary(msg.clone().into_bytes().into()))
                    .await
                    .unwrap();
                match timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap() {
                    Message::Binary(got) => {
                        assert_eq!(&got[..], msg.as_bytes());
                        Ok(ws)
                    }
                    Message::Close(Some(f)) => Err((u16::from(f.code), f.reason.to_string())),
                    other => panic!("unexpected {other:?}"),
                }
            })
        })
        .collect();
    let mut open_ones = Vec::new();
    let mut refused = Vec::new();
    for t in tries {
        match t.await.unwrap() {
            Ok(ws) => open_ones.push(ws),
            Err(r) => refused.push(r),
        }
    }
    assert_eq!(open_ones.len(), 3, "the per-IP limit: {refused:?}");
    assert_eq!(refused.len(), 3);
    for (code, reason) in &refused {
        assert_eq!(
            (*code, reason.as_str()),
            (close::TRY_AGAIN, close::TOO_MANY)
        );
    }
    until_connections(&b, 3).await;

    // Another IP gets two more, then the total is reached.
    for i in 0..2 {
        let mut ws = open_from(&url, None, Some(two)).await;
        echo(&mut ws, format!("two {i}").as_bytes()).await;
        open_ones.push(ws);
    }
    let mut ws = open_from(&url, None, Some(two)).await;
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (close::TRY_AGAIN, close::TOO_MANY),
        "the total limit"
    );
    assert_eq!(b.connections(), 5);

    // A closed relay frees its place.
    let mut first = open_ones.remove(0);
    client_close(&mut first).await;
    until_connections(&b, 4).await;
    let mut ws = open_from(&url, None, Some(two)).await;
    echo(&mut ws, b"room again").await;
    open_ones.push(ws);
    for ws in &mut open_ones {
        echo(ws, b"still relaying").await;
    }
    b.shutdown().await.unwrap();
    for ws in &mut open_ones {
        let (code, reason, _) = closed(ws).await;
        assert_eq!(
            (code, reason.as_str()),
            (close::GOING_AWAY, close::SHUTTING_DOWN)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_relays_are_closed() {
    let (echo_addr, mut received) = echo_server().await;
    let idle = Duration::from_millis(400);
    let b = bridge::serve(BridgeConfig {
        idle_timeout: idle,
        ..config(&[echo_addr])
    })
    .await
    .unwrap();
    let mut ws = open(&b.url(&echo_addr.to_string())).await;
    // Traffic keeps it open well past the timeout.
    let busy = Instant::now();
    let quiet = loop {
        echo(&mut ws, b"tick").await;
        let last = Instant::now();
        if busy.elapsed() > idle * 3 {
            break last;
        }
        tokio::time::sleep(idle / 4).await;
    };
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (close::NORMAL, close::IDLE));
    let waited = quiet.elapsed();
    assert!(
        waited >= idle * 3 / 4 && waited < idle * 5,
        "closed after {waited:?}"
    );
    // The target sees EOF too.
    timeout(WAIT, received.recv()).await.unwrap().unwrap();
    until_connections(&b, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_reported() {
    let dead = closed_port();
    let b = bridge::serve(config(&[dead])).await.unwrap();
    let mut ws = open(&b.url(&dead.to_string())).await;
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!(code, close::INTERNAL);
    assert!(reason.starts_with(close::CANNOT_REACH), "{reason}");
    assert!(
        reason.len() > close::CANNOT_REACH.len(),
        "the cause is given: {reason}"
    );
    until_connections(&b, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_text_messages_are_refused() {
    let (echo_addr, _rx) = echo_server().await;
    let b = bridge::serve(BridgeConfig {
        max_message_size: 1024,
        ..config(&[echo_addr])
    })
    .await
    .unwrap();
    let url = b.url(&echo_addr.to_string());
    let mut ws = open(&url).await;
    echo(&mut ws, &pattern(1024, 1)).await;
    ws.send(Message::Binary(pattern(2048, 2).into()))
        .await
        .unwrap();
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (close::TOO_BIG, close::MESSAGE_TOO_BIG)
    );

    let mut ws = open(&url).await;
    ws.send(Message::Text("hello".into())).await.unwrap();
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (close::UNSUPPORTED, close::BINARY_ONLY)
    );
    until_connections(&b, 0).await;
}

/// A plain HTTP GET on loopback; returns the head and the body.
async fn http_get(addr: SocketAddr, path: &str, origin: Option<&str>) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{origin}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut all = String::new();
    timeout(WAIT, s.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_lists_the_allowlist() {
    let (echo_addr, _rx) = echo_server().await;
    let dead = closed_port();
    let b = bridge::serve(BridgeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        [echo_addr.to_string(), format!("localhost:{}", dead.port())],
    ))
    .await
    .unwrap();
    let (head, body) = http_get(b.local_addr(), "/targets", None).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["target"], echo_addr.to_string());
    assert_eq!(targets[0]["addresses"][0], echo_addr.to_string());
    assert_eq!(targets[0]["path"], format!("/connect?target={echo_addr}"));
    assert_eq!(targets[1]["target"], format!("localhost:{}", dead.port()));
    assert!(
        targets[1]["addresses"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!("127.0.0.1:{}", dead.port())))
    );

    // With an origin list, CORS names the allowed origin only.
    let b = bridge::serve(BridgeConfig {
        origins: vec!["http://page.example".into()],
        ..config(&[echo_addr])
    })
    .await
    .unwrap();
    let (head, _) = http_get(b.local_addr(), "/targets", Some("http://page.example")).await;
    assert!(
        head.contains("access-control-allow-origin: http://page.example"),
        "{head}"
    );
    let (head, _) = http_get(b.local_addr(), "/targets", Some("http://evil.example")).await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_refused() {
    assert!(
        bridge::serve(config(&[])).await.is_err(),
        "an empty allowlist"
    );
    let bad = BridgeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), ["no-port"]);
    assert!(bridge::serve(bad).await.is_err());
    let zero = BridgeConfig {
        max_per_ip: 0,
        ..config(&[closed_port()])
    };
    assert!(bridge::serve(zero).await.is_err());
}

/// `stellar-overlay bridge` as a process: it prints where it listens, relays, and stops on
/// Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_bridge_relays() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let (echo_addr, _rx) = echo_server().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args([
            "bridge",
            "--listen",
            "127.0.0.1:0",
            "--allow",
            &echo_addr.to_string(),
            "--idle-timeout",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, mut lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = timeout(WAIT, lines.recv()).await.unwrap().unwrap();
    let url = first
        .strip_prefix("bridge listening on ")
        .and_then(|u| u.strip_suffix("/connect?target=HOST:PORT"))
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let mut ws = open(&format!("{url}/connect?target={echo_addr}")).await;
    echo(&mut ws, &pattern(100_000, 5)).await;
    let mut ws2 = open(&format!("{url}/connect?target=127.0.0.1:1")).await;
    let (code, reason, _) = closed(&mut ws2).await;
    assert_eq!(
        (code, reason.as_str()),
        (close::POLICY, close::TARGET_NOT_ALLOWED)
    );

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (close::GOING_AWAY, close::SHUTTING_DOWN)
    );
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "a clean stop: {status}");
    let mut rest = Vec::new();
    while let Ok(Some(l)) = timeout(Duration::from_secs(1), lines.recv()).await {
        rest.push(l);
    }
    assert!(rest.iter().any(|l| l == "stopping..."), "{rest:?}");
}

/// Backpressure, browser → target: a target that does not read stalls the browser's sends
/// after what the sockets hold; the bridge does not buffer on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_does_not_read_stalls_the_browser() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (held_tx, _held) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        // Accept and hold the connection without ever reading.
        let (s, _) = listener.accept().await.unwrap();
        let _ = held_tx.send(s);
    });
    let b = bridge::serve(config(&[addr])).await.unwrap();
    let mut ws = open(&b.url(&addr.to_string())).await;
    let chunk = Bytes::from(pattern(1 << 20, 3));
    let mut sent = 0usize;
    let limit = 128usize << 20;
    loop {
        match timeout(
            Duration::from_millis(500),
            ws.send(Message::Binary(chunk.clone())),
        )
        .await
        {
            Ok(r) => r.unwrap(),
            Err(_) => break,
        }
        sent += chunk.len();
        assert!(
            sent < limit,
            "{sent} bytes accepted by a target that reads nothing"
        );
    }
    assert_eq!(b.connections(), 1);
}

/// Backpressure, target → browser: a browser that does not read stalls the target's
/// writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_does_not_read_stalls_the_target() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (report, mut written) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let chunk = pattern(1 << 20, 4);
        let mut total = 0usize;
        loop {
            match timeout(Duration::from_millis(500), s.write_all(&chunk)).await {
                Ok(Ok(())) => total += chunk.len(),
                Ok(Err(_)) | Err(_) => break,
            }
            if total >= 128 << 20 {
                break;
            }
        }
        let _ = report.send(total);
        // Hold the connection open until the test is done.
        tokio::time::sleep(WAIT).await;
    });
    let b = bridge::serve(config(&[addr])).await.unwrap();
    let _ws = open(&b.url(&addr.to_string())).await;
    let total = timeout(WAIT * 3, written.recv()).await.unwrap().unwrap();
    assert!(
        total < 128 << 20,
        "the target wrote {total} bytes to a browser that reads nothing"
    );
}
