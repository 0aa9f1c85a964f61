//! A Stellar peer in the browser, over a WebSocket to the bridge.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Function, Reflect, Uint8Array};
use overlay_core::auth::shared_key;
use overlay_core::flood::sha256;
use overlay_core::peer::State as PeerState;
use overlay_core::wire::{AUTH_FLAGS, DontHave, ErrorMsg, Hash, MessageType, StellarMessage};
use overlay_core::{
    AcceptAll, AuthCert, DropReason, Event, Instant, LocalNode, NetworkId, NodeKey, Peer,
    PeerConfig, PeerSetup, Role, WallClock,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::js::{hex, n, obj, s, u};
use crate::summary::summary;

/// Largest WebSocket message sent to the bridge (its default limit is 1 MiB).
const WS_CHUNK: usize = 256 * 1024;

fn random32() -> Result<[u8; 32], JsValue> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| JsValue::from_str(&format!("no Web Crypto randomness: {e}")))?;
    Ok(b)
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn fingerprint(key: &[u8]) -> String {
    hex(&sha256(key)[..8])
}

/// Calls `setTimeout(f, ms)` on the global object (window, worker or Node).
fn set_timeout(f: &Function, ms: f64) -> Option<JsValue> {
    let global = js_sys::global();
    let st: Function = Reflect::get(&global, &JsValue::from_str("setTimeout"))
        .ok()?
        .dyn_into()
        .ok()?;
    st.call2(&global, f, &JsValue::from_f64(ms)).ok()
}

fn clear_timeout(id: &JsValue) {
    let global = js_sys::global();
    if let Some(ct) = Reflect::get(&global, &JsValue::from_str("clearTimeout"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    {
        let _ = ct.call1(&global, id);
    }
}

/// Whether the core checked a received frame's sequence and MAC before acting on it
/// (`Peer`'s receive path, as stellar-core's `Peer::recvAuthenticatedMessage`): once the MAC
/// keys exist — from the remote's HELLO on, state GOT_HELLO — every frame but ERROR_MSG,
/// which may come un-MACed. The HELLO that brings the keys arrives in CONNECTED and is never
/// MACed.
fn mac_checked(state_at_receipt: PeerState, ty: MessageType) -> bool {
    state_at_receipt >= PeerState::GotHello && ty != MessageType::ErrorMsg
}

/// `macOk` of a received message: `true` if its sequence and MAC were checked (a frame that
/// fails the check is never reported as a message: the connection closes, and the `closed`
/// event says `macOk: false`), `null` if the protocol does not MAC it.
fn mac_ok(checked: bool) -> JsValue {
    if checked {
        JsValue::TRUE
    } else {
        JsValue::NULL
    }
}

fn credit_fields(peer: &Peer) -> [(&'static str, JsValue); 4] {
    let (im, ib) = peer.inbound_credit();
    let (om, ob) = peer.outbound_credit();
    [
        ("inboundMessages", u(im)),
        ("inboundBytes", u(ib)),
        ("outboundMessages", u(om)),
        ("outboundBytes", u(ob)),
    ]
}

/// Turns a peer's events into the plain objects handed to `onEvent`.
#[derive(Debug)]
struct Reporter {
    local: Arc<LocalNode>,
    /// The cert our HELLO carries (shown step by step in the page).
    cert: Option<AuthCert>,
    raw: bool,
    /// Received frames whose sequence and MAC the core verified (reported ones).
    macs_verified: u64,
    closed: bool,
    /// The WebSocket's close code and reason, once it closed.
    ws_close: Option<(u16, String)>,
    /// Events gathered while the state is borrowed, handed to JS once it is released (the
    /// callback may call back into this peer).
    out: Vec<JsValue>,
}

impl Reporter {
    fn new(local: Arc<LocalNode>) -> Self {
        Reporter {
            local,
            cert: None,
            raw: false,
            macs_verified: 0,
            closed: false,
            ws_close: None,
            out: Vec::new(),
        }
    }

    /// The `message` event for the frame `peer` processed last, if it is of type `ty`: a
    /// delivered message, or the handshake's HELLO or AUTH (the decoder lends the frame
    /// until the next `poll` either way).
    fn frame_event(&mut self, peer: &Peer, ty: MessageType, checked: bool) -> Option<JsValue> {
        let m = peer
            .last_message()
            .filter(|m| m.message.message_type() == ty)?;
        if checked {
            self.macs_verified += 1;
        }
        let mut f = vec![
            ("type", s("message")),
            ("messageType", s(ty.name())),
            // An unchecked frame's sequence field means nothing (HELLO sends 0).
            (
                "sequence",
                if checked {
                    u(m.sequence)
                } else {
                    JsValue::NULL
                },
            ),
            ("size", n(m.frame_len as u32)),
            ("macOk", mac_ok(checked)),
            ("summary", summary(&m.message)),
            (
                "raw",
                if self.raw {
                    s(hex(m.raw))
                } else {
                    JsValue::UNDEFINED
                },
            ),
        ];
        f.extend(credit_fields(peer));
        Some(obj(&f))
    }

    /// Drains the peer's events into `out`, answering latency pings on the way.
    fn drain(&mut self, peer: &mut Peer, now: Instant) {
        loop {
            // The state a frame was received in decides whether its MAC was checked; only
            // the frame behind an event can change it.
            let before = peer.state();
            let Some(ev) = peer.poll(now, &mut AcceptAll) else {
                break;
            };
            match ev {
                Event::Hello(r) => {
                    let checked = mac_checked(before, MessageType::Hello);
                    if let Some(m) = self.frame_event(peer, MessageType::Hello, checked) {
                        self.out.push(m);
                    }
                    let local = &self.local;
                    let cert = self.cert.map_or(([0; 32], 0), |c| (c.pubkey, c.expiration));
                    let hello = obj(&[
                        ("type", s("hello")),
                        ("node", s(r.node_id.to_string())),
                        ("versionStr", s(r.version_str())),
                        ("ledgerVersion", n(r.ledger_version)),
                        ("overlayVersion", n(r.overlay_version)),
                        ("overlayMinVersion", n(r.overlay_min_version)),
                        ("listeningPort", n(r.listening_port)),
                        ("certExpiration", u(r.cert_expiration)),
                        ("certPubkey", s(hex(&r.cert_pubkey))),
                        ("nonce", s(hex(&r.nonce))),
                        // Our HELLO: what the peer sent from `local`.
                        ("localNode", s(local.node_id().to_string())),
                        ("localVersionStr", s(local.version_str.as_str())),
                        ("localLedgerVersion", n(local.ledger_version)),
                        ("localOverlayVersion", n(local.overlay_version)),
                        ("localOverlayMinVersion", n(local.overlay_min_version)),
                        ("localListeningPort", n(local.listening_port)),
                        ("localNonce", s(hex(peer.local_nonce()))),
                        ("localCertPubkey", s(hex(&cert.0))),
                        ("localCertExpiration", u(cert.1)),
                    ]);
                    self.out.push(hello);
                    if let (Some(keys), Ok(k)) = (
                        peer.mac_keys(),
                        shared_key(Role::Initiator, &local.ecdh, &r.cert_pubkey),
                    ) {
                        self.out.push(obj(&[
                            ("type", s("keys")),
                            ("sharedKeyFingerprint", s(fingerprint(&k))),
                            ("sendKeyFingerprint", s(fingerprint(&keys.send_raw))),
                            ("recvKeyFingerprint", s(fingerprint(&keys.recv_raw))),
                        ]));
                    }
                }
                Event::Authenticated(r) => {
                    let checked = mac_checked(before, MessageType::Auth);
                    if let Some(m) = self.frame_event(peer, MessageType::Auth, checked) {
                        self.out.push(m);
                    }
                    let flags = peer.last_message().and_then(|m| match m.message {
                        StellarMessage::Auth(a) => Some(a.flags),
                        _ => None,
                    });
                    let (grant_messages, grant_bytes) = peer.inbound_credit();
                    self.out.push(obj(&[
                        ("type", s("authenticated")),
                        ("node", s(r.node_id.to_string())),
                        ("versionStr", s(r.version_str())),
                        ("overlayVersion", n(r.overlay_version)),
                        ("overlayMinVersion", n(r.overlay_min_version)),
                        ("authFlags", flags.map_or(JsValue::NULL, n)),
                        ("localAuthFlags", n(AUTH_FLAGS)),
                        ("grantMessages", u(grant_messages)),
                        ("grantBytes", u(grant_bytes)),
                    ]));
                }
                Event::CreditGranted(g) => {
                    if mac_checked(before, MessageType::SendMoreExtended) {
                        self.macs_verified += 1;
                    }
                    let mut f = vec![
                        ("type", s("credit")),
                        ("messages", n(g.num_messages)),
                        ("bytes", n(g.num_bytes)),
                    ];
                    f.extend(credit_fields(peer));
                    self.out.push(obj(&f));
                }
                Event::Message(m) => {
                    let ty = m.message.message_type();
                    let reply = match m.message {
                        StellarMessage::GetScpQuorumSet(h) => Some(*h),
                        _ => None,
                    };
                    if let Some(m) = self.frame_event(peer, ty, mac_checked(before, ty)) {
                        self.out.push(m);
                    }
                    // Answer latency pings at once, as any node does.
                    if let Some(h) = reply {
                        let _ = peer.send(
                            now,
                            &StellarMessage::DontHave(DontHave {
                                message_type: MessageType::ScpQuorumSet,
                                req_hash: &h,
                            }),
                        );
                    }
                }
                Event::Closed(reason) => {
                    if let DropReason::RemoteError { code, msg } = &reason {
                        // The remote's ERROR_MSG; its frame went with the receive buffer.
                        let checked = mac_checked(before, MessageType::ErrorMsg);
                        let mut f = vec![
                            ("type", s("message")),
                            ("messageType", s(MessageType::ErrorMsg.name())),
                            ("sequence", JsValue::NULL),
                            ("size", JsValue::NULL),
                            ("macOk", mac_ok(checked)),
                            (
                                "summary",
                                summary(&StellarMessage::ErrorMsg(ErrorMsg::new(*code, msg))),
                            ),
                            ("raw", JsValue::UNDEFINED),
                        ];
                        f.extend(credit_fields(peer));
                        self.out.push(obj(&f));
                    }
                    self.closed = true;
                    let ev = closed_event(&reason, self.ws_close.as_ref(), self.macs_verified);
                    self.out.push(ev);
                }
            }
        }
    }
}

#[derive(Debug)]
struct State {
    ws: WebSocket,
    on_event: Function,
    target: Option<SocketAddr>,
    url: String,
    peer: Option<Peer>,
    /// `Date.now()` at creation: the peer's monotonic clock starts there.
    origin_ms: f64,
    timer: Option<JsValue>,
    timer_cb: Option<Closure<dyn FnMut()>>,
    rep: Reporter,
}

impl State {
    fn now(&self) -> Instant {
        Instant::from_micros(((now_ms() - self.origin_ms).max(0.0) * 1000.0) as u64)
    }

    /// Drains the peer: events (as JS objects), then writes, then the timer.
    fn drive(&mut self) {
        let now = self.now();
        let Some(peer) = self.peer.as_mut() else {
            return;
        };
        self.rep.drain(peer, now);
        let mut buf = Vec::new();
        while peer.poll_transmit(now, &mut buf) > 0 {
            if self.ws.ready_state() == WebSocket::OPEN {
                // The bridge relays a byte stream, not frames, and caps its messages.
                for chunk in buf.chunks(WS_CHUNK) {
                    let _ = self.ws.send_with_u8_array(chunk);
                }
            }
            buf.clear();
        }
        if self.rep.closed {
            let _ = self.ws.close();
        }
    }
}

/// The `closed` event; `ws` is the WebSocket close (code, reason) if the bridge closed
/// first (e.g. "target not allowed", "cannot reach target"); `macs_verified` counts the
/// received frames whose MAC was checked.
fn closed_event(reason: &DropReason, ws: Option<&(u16, String)>, macs_verified: u64) -> JsValue {
    let mac_ok = if matches!(
        reason,
        DropReason::BadMac | DropReason::UnexpectedSequence { .. }
    ) {
        JsValue::FALSE
    } else if macs_verified > 0 {
        JsValue::TRUE
    } else {
        // Closed before any MACed frame arrived.
        JsValue::NULL
    };
    obj(&[
        ("type", s("closed")),
        ("reason", s(reason.to_string())),
        ("wsCode", ws.map_or(JsValue::NULL, |w| n(w.0))),
        ("wsReason", ws.map_or(JsValue::NULL, |w| s(&w.1))),
        // The ERROR_MSG's code: the remote's, or the one we sent.
        (
            "errorCode",
            match reason {
                DropReason::RemoteError { code, .. } => s(code.name()),
                _ => reason.error().map_or(JsValue::NULL, |c| s(c.name())),
            },
        ),
        ("byRemote", JsValue::from_bool(reason.by_remote())),
        ("macOk", mac_ok),
    ])
}

/// Hands gathered events to JS (outside any borrow of the state).
fn flush(state: &Rc<RefCell<State>>) {
    let (events, cb) = {
        let mut st = state.borrow_mut();
        (std::mem::take(&mut st.rep.out), st.on_event.clone())
    };
    for ev in events {
        let _ = cb.call1(&JsValue::NULL, &ev);
    }
}

/// Runs the peer after any input and re-arms its timer.
fn step(state: &Rc<RefCell<State>>) {
    {
        let mut st = state.borrow_mut();
        st.drive();
        if let Some(t) = st.timer.take() {
            clear_timeout(&t);
        }
        let deadline = st.peer.as_ref().and_then(Peer::poll_timeout);
        if let (Some(d), false) = (deadline, st.rep.closed) {
            let wait_ms = (d.as_micros() as f64 / 1000.0 - (now_ms() - st.origin_ms)).max(0.0);
            let weak = Rc::downgrade(state);
            let cb = Closure::<dyn FnMut()>::new(move || {
                if let Some(state) = weak.upgrade() {
                    {
                        let mut st = state.borrow_mut();
                        let now = st.now();
                        if let Some(p) = st.peer.as_mut() {
                            p.handle_timeout(now);
                        }
                    }
                    step(&state);
                }
            });
            st.timer = set_timeout(cb.as_ref().unchecked_ref(), wait_ms);
            st.timer_cb = Some(cb);
        }
    }
    flush(state);
}

/// A Stellar peer running in the page, connected through the WebSocket bridge.
#[wasm_bindgen]
#[derive(Debug)]
pub struct BrowserPeer {
    state: Rc<RefCell<State>>,
    // Kept alive for as long as the socket may call them.
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

#[wasm_bindgen]
impl BrowserPeer {
    /// Connects to `url` (the bridge's WebSocket URL for one target node) and runs the
    /// handshake as the initiator. `target` is the node's `host:port` (for the address the
    /// peer reports); `passphrase` names the network; `onEvent` receives every event.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: &str,
        target: &str,
        passphrase: &str,
        #[wasm_bindgen(js_name = onEvent, unchecked_param_type = "(event: PeerEvent) => void")]
        on_event: Function,
    ) -> Result<BrowserPeer, JsValue> {
        let key = NodeKey::from_seed(random32()?);
        let network = NetworkId::from_passphrase(passphrase);
        let local = Arc::new(LocalNode::new(key, network, random32()?));
        let ws = WebSocket::new(url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let state = Rc::new(RefCell::new(State {
            ws: ws.clone(),
            on_event,
            target: target.parse().ok(),
            url: url.to_string(),
            peer: None,
            origin_ms: now_ms(),
            timer: None,
            timer_cb: None,
            rep: Reporter::new(local),
        }));
        let mut callbacks = Vec::new();

        let weak = Rc::downgrade(&state);
        let onopen = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let Some(state) = weak.upgrade() else { return };
            let started = {
                let mut st = state.borrow_mut();
                let now = st.now();
                let unix = (now_ms() / 1000.0) as u64;
                let nonce = random32();
                match nonce {
                    Ok(nonce) => {
                        let remote = st.target.or_else(|| "127.0.0.1:11625".parse().ok());
                        let local = Arc::clone(&st.rep.local);
                        let cert = local.issue_cert(unix);
                        st.rep.cert = Some(cert);
                        st.peer = Some(Peer::new(
                            PeerSetup {
                                role: Role::Initiator,
                                local,
                                cert,
                                nonce,
                                remote_address: remote,
                                config: PeerConfig::default(),
                                clock: WallClock::new(now, unix),
                            },
                            now,
                        ));
                        let url = st.url.clone();
                        st.rep
                            .out
                            .push(obj(&[("type", s("open")), ("url", s(url))]));
                        true
                    }
                    Err(e) => {
                        st.rep
                            .out
                            .push(obj(&[("type", s("error")), ("message", e)]));
                        false
                    }
                }
            };
            if started {
                step(&state);
            } else {
                flush(&state);
            }
        });
        ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
        callbacks.push(onopen);

        let weak = Rc::downgrade(&state);
        let onmessage = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Some(state) = weak.upgrade() else { return };
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else {
                return;
            };
            let bytes = Uint8Array::new(&ev.data()).to_vec();
            {
                let mut st = state.borrow_mut();
                let now = st.now();
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let Some(peer) = st.peer.as_mut() else { break };
                    let took = peer.handle_input(now, rest);
                    rest = &rest[took..];
                    if took < bytes.len() {
                        st.drive();
                    }
                    if took == 0 {
                        break;
                    }
                }
            }
            step(&state);
        });
        ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        callbacks.push(onmessage);

        let weak = Rc::downgrade(&state);
        let onclose = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Some(state) = weak.upgrade() else { return };
            {
                let mut st = state.borrow_mut();
                if !st.rep.closed {
                    let close = ev
                        .dyn_into::<CloseEvent>()
                        .map(|c| (c.code(), c.reason()))
                        .unwrap_or((0, String::new()));
                    st.rep.ws_close = Some(close);
                    let now = st.now();
                    match st.peer.as_mut() {
                        Some(p) => p.close(now, DropReason::RemoteClosed),
                        None => {
                            let rep = &mut st.rep;
                            rep.closed = true;
                            let ev = closed_event(
                                &DropReason::RemoteClosed,
                                rep.ws_close.as_ref(),
                                rep.macs_verified,
                            );
                            rep.out.push(ev);
                        }
                    }
                }
            }
            step(&state);
        });
        ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
        callbacks.push(onclose);

        Ok(BrowserPeer {
            state,
            _callbacks: callbacks,
        })
    }

    /// Our node ID (a fresh identity per page load).
    #[wasm_bindgen(js_name = nodeId)]
    pub fn node_id(&self) -> String {
        self.state.borrow().rep.local.node_id().to_string()
    }

    /// Include each message's raw XDR (hex) in its event.
    #[wasm_bindgen(js_name = setRaw)]
    pub fn set_raw(&self, on: bool) {
        self.state.borrow_mut().rep.raw = on;
    }

    /// Whether the handshake completed.
    #[wasm_bindgen(js_name = isAuthenticated)]
    pub fn is_authenticated(&self) -> bool {
        self.state
            .borrow()
            .peer
            .as_ref()
            .is_some_and(Peer::is_authenticated)
    }

    /// Asks for SCP state from `ledger` (0: everything the node remembers).
    #[wasm_bindgen(js_name = sendGetScpState)]
    pub fn send_get_scp_state(&self, ledger: u32) -> Result<(), JsValue> {
        self.send(&StellarMessage::GetScpState(ledger))
    }

    /// Asks for a quorum set by hash (hex).
    #[wasm_bindgen(js_name = sendGetQuorumSet)]
    pub fn send_get_quorum_set(&self, hash_hex: &str) -> Result<(), JsValue> {
        let h = parse_hash(hash_hex)?;
        self.send(&StellarMessage::GetScpQuorumSet(&h))
    }

    /// Asks for a tx set by hash (hex).
    #[wasm_bindgen(js_name = sendGetTxSet)]
    pub fn send_get_tx_set(&self, hash_hex: &str) -> Result<(), JsValue> {
        let h = parse_hash(hash_hex)?;
        self.send(&StellarMessage::GetTxSet(&h))
    }

    /// Credit both ways and time spent without credit (`null` before the WebSocket opened).
    #[wasm_bindgen(unchecked_return_type = "PeerCredit | null")]
    pub fn credit(&self) -> JsValue {
        let st = self.state.borrow();
        match st.peer.as_ref() {
            Some(p) => {
                let mut f = credit_fields(p).to_vec();
                f.push((
                    "msWithoutCredit",
                    u(p.time_without_credit(st.now()).as_millis() as u64),
                ));
                obj(&f)
            }
            None => JsValue::NULL,
        }
    }

    /// Closes the connection (ERROR_MSG "dropped by user" first, as a node would).
    pub fn close(&self) {
        {
            let mut st = self.state.borrow_mut();
            let now = st.now();
            if let Some(p) = st.peer.as_mut() {
                p.close(now, DropReason::DroppedByUser);
            } else {
                let _ = st.ws.close();
            }
        }
        step(&self.state);
    }
}

impl BrowserPeer {
    fn send(&self, msg: &StellarMessage<'_>) -> Result<(), JsValue> {
        {
            let mut st = self.state.borrow_mut();
            let now = st.now();
            let peer = st
                .peer
                .as_mut()
                .ok_or_else(|| JsValue::from_str("not connected yet"))?;
            peer.send(now, msg)
                .map_err(|e| JsValue::from_str(&e.to_string()))?;
            st.rep.out.push(obj(&[
                ("type", s("sent")),
                ("messageType", s(msg.message_type().name())),
            ]));
        }
        step(&self.state);
        Ok(())
    }
}

fn parse_hash(h: &str) -> Result<Hash, JsValue> {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .filter_map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    bytes
        .try_into()
        .map_err(|_| JsValue::from_str(&format!("not a 32-byte hex hash: {h}")))
}
