//! The admin HTTP interface, with stellar-core's endpoint names and answers
//! (`CommandHandler.cpp`): `/info`, `/peers`, `/connect`, `/droppeer`, `/ban`, `/unban`,
//! `/bans`, `/metrics` (Prometheus text), `/scp`, and the time-sliced survey routes
//! `/startsurveycollecting`, `/stopsurveycollecting`, `/surveytopologytimesliced`,
//! `/getsurveyresult` and `/stopsurvey`.
//!
//! Survey answers are stellar-core's texts, so `OverlaySurvey.py` and our `survey` command
//! work against either node. Where stellar-core answers an error with HTTP 200 and
//! `{"exception": "..."}` (a missing or unparsable parameter, a bad key), the body is the
//! same but the status is 400; a refusal because of the survey's state (another survey
//! active, none active, node already queued) is 409 with stellar-core's text.
//!
//! Handlers only talk to the node task through its command channel; they never touch the
//! overlay.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use overlay_core::overlay::Overlay;
use overlay_core::survey::SurveyError;
use overlay_core::{Instant, NodeId, Role};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::node::{Command, ask};
use crate::relay::Relay;

type Params = Query<HashMap<String, String>>;

/// The `/peers` document (stellar-core's shape, with the non-compact traffic fields).
pub fn peers_json(overlay: &Overlay, now: Instant) -> Value {
    let mut auth_in = Vec::new();
    let mut auth_out = Vec::new();
    let mut pend_in = Vec::new();
    let mut pend_out = Vec::new();
    for (conn, role, address) in overlay.connections() {
        let Some(peer) = overlay.peer(conn) else {
            continue;
        };
        let remote = peer.remote();
        let shown = remote
            .and_then(|r| r.address)
            .unwrap_or(address)
            .to_string();
        if !peer.is_authenticated() {
            match role {
                Role::Acceptor => pend_in.push(json!(shown)),
                Role::Initiator => pend_out.push(json!(shown)),
            }
            continue;
        }
        let stats = peer.stats();
        let conn_stats = overlay.conn_stats(conn).unwrap_or_default();
        let (local_msgs, local_bytes) = peer.inbound_credit();
        let (peer_msgs, peer_bytes) = peer.outbound_credit();
        let delays = &stats.queue_delay;
        let entry = json!({
            "address": shown,
            "elapsed": (now - peer.connected_at()).as_secs(),
            "latency": stats.last_ping.map_or(0, |d| d.as_millis() as u64),
            "ver": remote.map(|r| r.version_str().to_string()),
            "olver": remote.map(|r| r.overlay_version),
            "id": remote.map(|r| r.node_id.to_string()),
            "flow_control": {
                "local_capacity": { "reading": local_msgs, "flood": local_msgs },
                "peer_capacity": peer_msgs,
                "local_capacity_bytes": { "flood": local_bytes },
                "peer_capacity_bytes": peer_bytes,
                "time_without_credit_ms": peer.time_without_credit(now).as_millis() as u64,
                "outbound_queue": {
                    "scp": peer.queued(overlay_core::flow::Priority::Scp),
                    "tx": peer.queued(overlay_core::flow::Priority::Transaction),
                    "demand": peer.queued(overlay_core::flow::Priority::Demand),
                    "advert": peer.queued(overlay_core::flow::Priority::Advert),
                },
                "outbound_queue_delay_max_ms": {
                    "scp": delays[0].max.as_millis() as u64,
                    "tx": delays[1].max.as_millis() as u64,
                    "demand": delays[2].max.as_millis() as u64,
                    "advert": delays[3].max.as_millis() as u64,
                },
                "outbound_queue_drops": peer.queue_drops(),
            },
            // v25 floods transactions in pull mode only.
            "pull_mode": true,
            "message_read": stats.messages_read,
            "message_write": stats.messages_written,
            // Outbound messages shed by the queues' trimming (stellar-core's message_drop).
            "message_drop": peer.queue_drops().iter().sum::<u64>(),
            "byte_read": stats.bytes_read,
            "byte_write": stats.bytes_written,
            "unique_flood_message_recv": conn_stats.unique_flood_message_recv,
            "duplicate_flood_message_recv": conn_stats.duplicate_flood_message_recv,
            "unique_fetch_message_recv": conn_stats.unique_fetch_message_recv,
            "duplicate_fetch_message_recv": conn_stats.duplicate_fetch_message_recv,
        });
        match role {
            Role::Acceptor => auth_in.push(entry),
            Role::Initiator => auth_out.push(entry),
        }
    }
    json!({
        "authenticated_peers": { "inbound": auth_in, "outbound": auth_out },
        "pending_peers": { "inbound": pend_in, "outbound": pend_out },
    })
}

/// `a.b-c` → `stellar_a_b_c`.
fn prom_name(name: &str) -> String {
    let mut s = String::from("stellar_");
    s.extend(
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    s
}

/// Every counter in Prometheus text format.
pub fn prometheus(overlay: &Overlay, relay: &Relay) -> String {
    let mut out = String::new();
    let mut counter = |name: &str, v: u64| {
        let n = prom_name(name);
        let _ = writeln!(out, "# TYPE {n} counter\n{n} {v}");
    };
    for (name, v) in overlay.metrics.named() {
        counter(name, v);
    }
    let pull = overlay.pull_metrics();
    for (name, v) in [
        ("overlay.flood.advertised", pull.advertised),
        ("overlay.flood.demanded", pull.demanded),
        ("overlay.flood.fulfilled", pull.fulfilled),
        (
            "overlay.flood.unfulfilled-unknown",
            pull.unfulfilled_unknown,
        ),
        ("overlay.flood.abandoned-demands", pull.abandoned_demands),
        ("overlay.demand.timeout", pull.demand_timeouts),
    ] {
        counter(name, v);
    }
    for (name, v) in relay.stats.named() {
        counter(name, v);
    }
    let survey = overlay.survey_metrics();
    for (name, v) in [
        ("overlay.survey.start-recv", survey.start_recv),
        ("overlay.survey.stop-recv", survey.stop_recv),
        ("overlay.survey.request-recv", survey.request_recv),
        ("overlay.survey.response-recv", survey.response_recv),
        ("overlay.survey.start-relayed", survey.start_relayed),
        ("overlay.survey.stop-relayed", survey.stop_relayed),
        ("overlay.survey.request-relayed", survey.request_relayed),
        ("overlay.survey.response-relayed", survey.response_relayed),
        ("overlay.survey.responses-sent", survey.responses_sent),
    ] {
        counter(name, v);
    }
    let authenticated = overlay.authenticated().count();
    let _ = writeln!(
        out,
        "# TYPE stellar_overlay_connection_authenticated gauge\nstellar_overlay_connection_authenticated {authenticated}"
    );
    let pending = overlay.connections().count() - authenticated;
    let _ = writeln!(
        out,
        "# TYPE stellar_overlay_connection_pending gauge\nstellar_overlay_connection_pending {pending}"
    );
    let _ = writeln!(out, "# TYPE stellar_overlay_survey_rejected counter");
    for (reason, v) in &survey.rejected {
        let _ = writeln!(
            out,
            "stellar_overlay_survey_rejected{{reason=\"{reason}\"}} {v}"
        );
    }
    let _ = writeln!(out, "# TYPE stellar_overlay_drop counter");
    for (reason, v) in &overlay.metrics.drops {
        let _ = writeln!(out, "stellar_overlay_drop{{reason=\"{reason}\"}} {v}");
    }
    out
}

/// A node ID as the endpoints take it: a full `G…` strkey.
fn node_param(p: &HashMap<String, String>) -> Result<NodeId, String> {
    let s = p
        .get("node")
        .ok_or_else(|| "Must specify at least peer id: ?node=NODE_ID".to_string())?;
    s.parse::<NodeId>()
        .map_err(|_| format!("Peer {s} not found"))
}

fn text(s: impl Into<String>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.into(),
    )
        .into_response()
}

fn unavailable(e: anyhow::Error) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
}

async fn info(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::Info).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn peers(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::Peers).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn connect(State(c): State<mpsc::Sender<Command>>, Query(p): Params) -> Response {
    let (Some(peer), Some(port)) = (p.get("peer"), p.get("port")) else {
        return text("Must specify a peer and port: connect&peer=PEER&port=PORT");
    };
    let Ok(port_num) = port.parse::<u16>() else {
        return (
            StatusCode::BAD_REQUEST,
            format!("port must be 1..65535, got {port}"),
        )
            .into_response();
    };
    let Some(addr) = crate::node::resolve(&[format!("{peer}:{port_num}")])
        .into_iter()
        .next()
    else {
        return (
            StatusCode::BAD_REQUEST,
            format!("cannot resolve {peer} to an IPv4 address"),
        )
            .into_response();
    };
    match ask(&c, |r| Command::Connect(addr, r)).await {
        Ok(_) => text(format!("Connect to: {peer}:{port}")),
        Err(e) => unavailable(e),
    }
}

async fn droppeer(State(c): State<mpsc::Sender<Command>>, Query(p): Params) -> Response {
    let node = match node_param(&p) {
        Ok(n) => n,
        Err(e) => return text(e),
    };
    let ban = p.get("ban").is_some_and(|b| b == "1");
    let id = &p["node"];
    match ask(&c, |reply| Command::DropPeer { node, ban, reply }).await {
        Ok(true) if ban => text(format!("Drop and ban peer: {id}")),
        Ok(true) => text(format!("Drop peer: {id}")),
        Ok(false) => text(format!("Peer {id} not found")),
        Err(e) => unavailable(e),
    }
}

async fn ban(State(c): State<mpsc::Sender<Command>>, Query(p): Params) -> Response {
    let node = match node_param(&p) {
        Ok(n) => n,
        Err(e) => return text(e),
    };
    match ask(&c, |r| Command::Ban(node, r)).await {
        Ok(true) => text(format!("Ban peer: {}", p["node"])),
        Ok(false) => (StatusCode::INSUFFICIENT_STORAGE, "ban list is full").into_response(),
        Err(e) => unavailable(e),
    }
}

async fn unban(State(c): State<mpsc::Sender<Command>>, Query(p): Params) -> Response {
    let node = match node_param(&p) {
        Ok(n) => n,
        Err(e) => return text(e),
    };
    match ask(&c, |r| Command::Unban(node, r)).await {
        Ok(_) => text(format!("Unban peer: {}", p["node"])),
        Err(e) => unavailable(e),
    }
}

async fn bans(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::Bans).await {
        Ok(b) => {
            axum::Json(json!({ "bans": b.iter().map(ToString::to_string).collect::<Vec<_>>() }))
                .into_response()
        }
        Err(e) => unavailable(e),
    }
}

async fn metrics(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::Metrics).await {
        Ok(m) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            m,
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

async fn scp(State(c): State<mpsc::Sender<Command>>, Query(p): Params) -> Response {
    let limit = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(2);
    match ask(&c, |r| Command::Scp(limit, r)).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => unavailable(e),
    }
}

/// stellar-core's `{"exception": "..."}` answer, with an HTTP status.
fn exception(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "exception": message }))).into_response()
}

/// stellar-core's `parseRequiredParam`: the parameter must be there and parse whole. The
/// error is stellar-core's message.
fn required<T: std::str::FromStr>(p: &HashMap<String, String>, key: &str) -> Result<T, String> {
    let v = p
        .get(key)
        .ok_or_else(|| format!("'{key}' argument is required!"))?;
    v.parse()
        .map_err(|_| format!("Failed to parse '{key}' argument"))
}

fn bad_request(message: &str) -> Response {
    exception(StatusCode::BAD_REQUEST, message)
}

fn conflict(s: &str) -> Response {
    (
        StatusCode::CONFLICT,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.to_string(),
    )
        .into_response()
}

/// `startsurveycollecting?nonce=N`.
async fn start_survey_collecting(
    State(c): State<mpsc::Sender<Command>>,
    Query(p): Params,
) -> Response {
    let nonce = match required::<u32>(&p, "nonce") {
        Ok(n) => n,
        Err(e) => return bad_request(&e),
    };
    match ask(&c, |r| Command::SurveyStartCollecting(nonce, r)).await {
        Ok(Ok(())) => text("Requested network to start survey collecting."),
        Ok(Err(_)) => {
            conflict("Failed to start survey collecting. Another survey is active on the network.")
        }
        Err(e) => unavailable(e),
    }
}

/// `stopsurveycollecting`.
async fn stop_survey_collecting(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::SurveyStopCollecting).await {
        Ok(Ok(())) => text("Requested network to stop survey collecting."),
        Ok(Err(_)) => {
            conflict("Failed to stop survey collecting. No survey is active on the network.")
        }
        Err(e) => unavailable(e),
    }
}

/// `surveytopologytimesliced?node=G…&inboundpeerindex=I&outboundpeerindex=J`.
async fn survey_topology(State(c): State<mpsc::Sender<Command>>, Query(p): Params) -> Response {
    let id = match required::<String>(&p, "node") {
        Ok(n) => n,
        Err(e) => return bad_request(&e),
    };
    // Only a full strkey, as stellar-core's `KeyUtils::fromStrKey`.
    let Ok(node) = id.parse::<NodeId>() else {
        return bad_request("bad public key");
    };
    let inbound_index = match required::<u32>(&p, "inboundpeerindex") {
        Ok(n) => n,
        Err(e) => return bad_request(&e),
    };
    let outbound_index = match required::<u32>(&p, "outboundpeerindex") {
        Ok(n) => n,
        Err(e) => return bad_request(&e),
    };
    let answer = ask(&c, |reply| Command::SurveyTopology {
        node,
        inbound_index,
        outbound_index,
        reply,
    })
    .await;
    match answer {
        Ok(Ok(true)) => text("Adding node.Survey started "),
        Ok(Ok(false)) => text("Adding node.Survey already running!"),
        // The words of stellar-core releases that threw here (OverlaySurvey.py knows them).
        Ok(Err(SurveyError::AlreadyQueuedOrSelf)) => exception(
            StatusCode::CONFLICT,
            "addPeerToBacklog failed: Peer is already in the backlog, or peer is self.",
        ),
        Ok(Err(SurveyError::NotReporting)) => exception(
            StatusCode::CONFLICT,
            "Cannot start survey reporting: this node is not in the reporting phase of a \
             survey. Start one with /startsurveycollecting?nonce=N, then end its collecting \
             phase with /stopsurveycollecting.",
        ),
        Ok(Err(e)) => exception(StatusCode::CONFLICT, &e.to_string()),
        Err(e) => unavailable(e),
    }
}

/// `getsurveyresult`: stellar-core's document (see `SurveyResults::to_json`).
async fn get_survey_result(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::SurveyResults).await {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

/// `stopsurvey`: ends the reporting run.
async fn stop_survey(State(c): State<mpsc::Sender<Command>>) -> Response {
    match ask(&c, Command::StopSurvey).await {
        Ok(()) => text("survey stopped"),
        Err(e) => unavailable(e),
    }
}

/// The admin routes over a node's command channel.
/// At most `max` requests in flight; more are answered at once with 503 rather than
/// queued, so a flood of admin clients cannot pile up behind the node task.
pub fn limit_clients(router: Router, max: usize) -> Router {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(max));
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let permits = std::sync::Arc::clone(&permits);
            async move {
                match permits.try_acquire() {
                    Ok(_held) => next.run(req).await,
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many concurrent clients (HTTP_MAX_CLIENT): retry shortly",
                    )
                        .into_response(),
                }
            }
        },
    ))
}

pub fn router(commands: mpsc::Sender<Command>) -> Router {
    Router::new()
        .route("/info", get(info))
        .route("/peers", get(peers))
        .route("/connect", get(connect))
        .route("/droppeer", get(droppeer))
        .route("/ban", get(ban))
        .route("/unban", get(unban))
        .route("/bans", get(bans))
        .route("/metrics", get(metrics))
        .route("/scp", get(scp))
        .route("/startsurveycollecting", get(start_survey_collecting))
        .route("/stopsurveycollecting", get(stop_survey_collecting))
        .route("/surveytopologytimesliced", get(survey_topology))
        .route("/getsurveyresult", get(get_survey_result))
        .route("/stopsurvey", get(stop_survey))
        .with_state(commands)
}

/// Serves the admin API on `addr` until the node stops. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    commands: mpsc::Sender<Command>,
) -> anyhow::Result<SocketAddr> {
    serve_with_limit(addr, commands, DEFAULT_HTTP_MAX_CLIENT).await
}

/// stellar-core's `HTTP_MAX_CLIENT` default.
pub const DEFAULT_HTTP_MAX_CLIENT: usize = 128;

/// [`serve`] with at most `max_clients` requests in flight (`HTTP_MAX_CLIENT`).
pub async fn serve_with_limit(
    addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    max_clients: usize,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot serve the admin API on {addr}: {e} (is HTTP_PORT in use?)")
    })?;
    let bound = listener.local_addr()?;
    let app = limit_clients(router(commands), max_clients);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "admin server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_beyond_the_client_limit_are_refused_not_queued() {
        let (release_tx, release_rx) = tokio::sync::watch::channel(false);
        let slow = Router::new().route(
            "/slow",
            get(move || {
                let mut rx = release_rx.clone();
                async move {
                    let _ = rx.wait_for(|go| *go).await;
                    "done"
                }
            }),
        );
        let app = limit_clients(slow, 2);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let get = move || {
            tokio::task::spawn_blocking(move || {
                match ureq::get(&format!("http://{addr}/slow")).call() {
                    Ok(r) => r.status().as_u16(),
                    Err(ureq::Error::StatusCode(c)) => c,
                    Err(e) => panic!("{e}"),
                }
            })
        };
        let held = [get(), get()];
        // Both in flight before the third arrives.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(get().await.unwrap(), 503);
        release_tx.send(true).unwrap();
        for h in held {
            assert_eq!(h.await.unwrap(), 200);
        }
        // Capacity is back once they finished.
        assert_eq!(get().await.unwrap(), 200);
    }
}
