//! `stellar-overlay survey`: a whole time-sliced survey (PROTOCOL.md §7) driven through a
//! node's admin API, with progress on stderr, written as JSON and as GraphML.
//!
//! It uses only stellar-core's routes (`/startsurveycollecting`, `/stopsurveycollecting`,
//! `/surveytopologytimesliced`, `/getsurveyresult`, `/stopsurvey`, `/peers`, `/scp`,
//! `/info`), so it surveys through a stellar-core node as well as through ours — the same
//! ground as `scripts/OverlaySurvey.py survey`, whose output it reproduces. It does more:
//!
//! - it watches the node's backlog, so it knows when each request actually left (the node
//!   sends at most 10 per `SURVEY_THROTTLE_TIMEOUT`), and asks a node that stays silent
//!   again, waiting twice as long each time, before reporting it missing;
//! - it pages through every node whose answer lists fewer peers than its totals, and stops
//!   paging one whose next page brings nothing new;
//! - it ends as soon as every node found has answered or been given up on (the script
//!   always waits 8 idle rounds of 15 s);
//! - it lists the nodes that never answered (`missing`), the answers that could not be
//!   read (`badResponseNodes`) and the nodes with pages still missing (`incomplete`);
//! - Ctrl-C writes what arrived so far.
//!
//! The driving happens here rather than in the node's own driver
//! (`Overlay::run_survey`) so that it works against any node; the rules are the same.
//!
//! ## Output
//! `--out FILE` gets `{surveyor, node, nonce, collectSecs, startedAt, finishedAt, topology,
//! missing, badResponseNodes, incomplete, summary}`, where `topology` has the shape of
//! OverlaySurvey.py's `--surveyResult` file: per answering node its node fields and
//! `inboundPeers` / `outboundPeers` keyed by peer id. `FILE` with the extension `.graphml`
//! gets the directed graph OverlaySurvey.py writes with networkx: nodes are strkeys with
//! `version` and the node fields, edges run inbound peer → node and node → outbound peer
//! and carry the peer statistics (every peer field but `nodeId` and `version`). When `FILE`
//! itself ends in `.graphml`, the graph goes there and the JSON to `FILE` with the
//! extension `.json` instead, so that neither overwrites the other.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

/// stellar-core's answers (`CommandHandler.cpp`; `scripts/overlay_survey/util.py`).
pub const START_COLLECTING_OK: &str = "Requested network to start survey collecting.";
pub const STOP_COLLECTING_OK: &str = "Requested network to stop survey collecting.";
pub const TOPOLOGY_OK_PREFIX: &str = "Adding node.";
pub const ALREADY_QUEUED: &str =
    "addPeerToBacklog failed: Peer is already in the backlog, or peer is self.";
pub const STOP_SURVEY_OK: &str = "survey stopped";

/// stellar-core ends a collecting phase after 30 minutes on its own.
pub const MAX_COLLECT: Duration = Duration::from_secs(30 * 60);

/// The node fields OverlaySurvey.py copies onto graph nodes.
pub const NODE_FIELDS: [&str; 10] = [
    "numTotalInboundPeers",
    "numTotalOutboundPeers",
    "maxInboundPeerCount",
    "maxOutboundPeerCount",
    "addedAuthenticatedPeers",
    "droppedAuthenticatedPeers",
    "p75SCPFirstToSelfLatencyMs",
    "p75SCPSelfToOtherLatencyMs",
    "lostSyncCount",
    "isValidator",
];

/// Where in a survey to begin (OverlaySurvey.py's `--startPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPhase {
    /// Start collecting, wait, stop, then ask every node.
    Start,
    /// The node's survey is collecting: stop it, then ask.
    Stop,
    /// Collecting is over: end the node's reporting run (clearing its results) and ask.
    Report,
}

impl std::str::FromStr for StartPhase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "start" => Ok(StartPhase::Start),
            "stop" => Ok(StartPhase::Stop),
            "report" => Ok(StartPhase::Report),
            _ => Err(format!("expected start, stop or report, got {s:?}")),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SurveyOptions {
    /// The node's admin API, e.g. `http://127.0.0.1:11626`.
    pub node: String,
    pub collect: Duration,
    /// The JSON result; the GraphML goes beside it with the extension `.graphml` (see
    /// [`SurveyOptions::json_path`] and [`SurveyOptions::graphml_path`]).
    pub out: PathBuf,
    /// The survey's nonce (random if `None`).
    pub nonce: Option<u32>,
    pub from: StartPhase,
    /// Wait after STOP_COLLECTING for it to reach the network (the script waits 60 s).
    pub stop_wait: Duration,
    /// How often `/getsurveyresult` is read.
    pub poll: Duration,
    /// A node asked but silent this long after its request left is asked again; the wait
    /// doubles each time.
    pub response_timeout: Duration,
    /// Times a silent node is asked again before it is reported missing.
    pub retries: u32,
    /// Nodes asked at most.
    pub max_nodes: usize,
    /// Nodes to ask besides the node's peers and those named in answers.
    pub extra_nodes: Vec<String>,
    /// Progress bar (a terminal) or progress lines (anything else) on stderr.
    pub progress: bool,
}

impl SurveyOptions {
    pub fn new(node: impl Into<String>, out: impl Into<PathBuf>) -> Self {
        SurveyOptions {
            node: node.into(),
            collect: Duration::from_secs(60),
            out: out.into(),
            nonce: None,
            from: StartPhase::Start,
            stop_wait: Duration::from_secs(20),
            poll: Duration::from_secs(1),
            response_timeout: Duration::from_secs(30),
            retries: 2,
            max_nodes: 10_000,
            extra_nodes: Vec::new(),
            progress: true,
        }
    }

    /// The JSON path: `--out`, unless that already names a `.graphml` file (any case);
    /// then `--out` with the extension `.json`.
    pub fn json_path(&self) -> PathBuf {
        if names_graphml(&self.out) {
            self.out.with_extension("json")
        } else {
            self.out.clone()
        }
    }

    /// The GraphML path: `--out` with the extension `.graphml`, or `--out` itself when it
    /// has that extension already. Never [`SurveyOptions::json_path`] for a file name.
    pub fn graphml_path(&self) -> PathBuf {
        if names_graphml(&self.out) {
            self.out.clone()
        } else {
            self.out.with_extension("graphml")
        }
    }
}

fn names_graphml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("graphml"))
}

/// How long a node asked `attempts` times for its current page is given, from when the
/// request left the node's backlog, before it is asked again (or given up on):
/// `timeout × 2^(attempts − 1)`, the exponent capped at 16.
pub fn retry_wait(timeout: Duration, attempts: u32) -> Duration {
    timeout.saturating_mul(1 << attempts.saturating_sub(1).min(16))
}

// ----- the admin API ---------------------------------------------------------------------

/// An answer: HTTP status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// stellar-core's `{"exception": "..."}`, if that is what this is.
    pub fn exception(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body)
            .ok()?
            .get("exception")?
            .as_str()
            .map(str::to_string)
    }

    fn json(&self, what: &str) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| {
            format!(
                "{what} answered HTTP {} with something that is not JSON: {}",
                self.status,
                excerpt(&self.body)
            )
        })
    }
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The admin routes the survey uses (a trait so the driver can be tested without HTTP).
pub trait Admin {
    fn get(&self, route: &str, query: &[(&str, String)]) -> anyhow::Result<Reply>;
}

/// The admin API over HTTP.
#[derive(Debug)]
pub struct HttpAdmin {
    base: String,
    agent: ureq::Agent,
}

impl HttpAdmin {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_string();
        if base.starts_with("https://") {
            bail!(
                "only http:// is supported: reach a remote node's admin port through a tunnel \
                 (ssh -L 11626:127.0.0.1:11626 HOST) and use --node http://127.0.0.1:11626"
            );
        }
        if !base.starts_with("http://") {
            bail!("--node must be the admin API's URL, e.g. http://127.0.0.1:11626 (got {base:?})");
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Ok(HttpAdmin {
            base,
            agent: ureq::Agent::new_with_config(config),
        })
    }
}

impl Admin for HttpAdmin {
    fn get(&self, route: &str, query: &[(&str, String)]) -> anyhow::Result<Reply> {
        let url = format!("{}/{route}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(*k, v);
        }
        let mut resp = req.call().map_err(|e| {
            anyhow!(
                "cannot reach the admin API at {} ({e}). Is the node running, and is this its \
                 HTTP_PORT? (`stellar-overlay run` and `localnet` print their admin URLs)",
                self.base
            )
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .with_context(|| format!("reading the answer of {url}"))?;
        if status == 404 {
            bail!(
                "{url} does not exist (HTTP 404): is {} the admin port of a stellar-core or \
                 stellar-overlay node? (nodes with RUN_STANDALONE have no overlay routes)",
                self.base
            );
        }
        Ok(Reply { status, body })
    }
}

// ----- progress ----------------------------------------------------------------------------

/// A progress bar on a terminal; otherwise one line per change, at most one a second.
struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    last_line: Option<(String, Instant)>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            bar: None,
            last_line: None,
        }
    }

    fn tty(&self) -> bool {
        self.enabled && std::io::stderr().is_terminal()
    }

    /// A new stage, with a bar of `len` steps (`None`: a spinner).
    fn stage(&mut self, prefix: &'static str, len: Option<u64>, message: String) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
        if !self.enabled {
            return;
        }
        if self.tty() {
            let template = if len.is_some() {
                "{spinner:.green} {prefix:<10} [{bar:30.cyan/blue}] {pos}/{len} {msg}"
            } else {
                "{spinner:.green} {prefix:<10} {msg}"
            };
            let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(prefix);
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        } else {
            eprintln!("survey: {prefix}: {message}");
            self.last_line = None;
        }
    }

    fn update(&mut self, prefix: &str, pos: u64, len: u64, message: String) {
        if !self.enabled {
            return;
        }
        if let Some(b) = &self.bar {
            b.set_length(len);
            b.set_position(pos);
            b.set_message(message);
            return;
        }
        let line = format!("{prefix}: {pos}/{len} {message}");
        let due = match &self.last_line {
            Some((l, at)) => *l != line && at.elapsed() >= Duration::from_secs(1),
            None => true,
        };
        if due {
            eprintln!("survey: {line}");
            self.last_line = Some((line, Instant::now()));
        }
    }

    fn note(&self, line: &str) {
        if !self.enabled {
            return;
        }
        match &self.bar {
            Some(b) => b.println(format!("survey: {line}")),
            None => eprintln!("survey: {line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }

    /// Leaves the bar where it is (an interrupted stage).
    fn abandon(&mut self) {
        if let Some(b) = self.bar.take() {
            b.abandon();
        }
    }
}

// ----- merged results ----------------------------------------------------------------------

/// One node's answers, pages merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// The node fields of its latest answer.
    pub fields: Map<String, Value>,
    /// Peer entries by peer id.
    pub inbound: BTreeMap<String, Value>,
    pub outbound: BTreeMap<String, Value>,
}

fn count(fields: &Map<String, Value>, key: &str) -> usize {
    fields
        .get(key)
        .and_then(Value::as_u64)
        .map_or(0, |v| v as usize)
}

impl Merged {
    /// Takes in one answer; returns whether it brought a peer not seen before.
    fn absorb(&mut self, answer: &Value) -> bool {
        let before = self.inbound.len() + self.outbound.len();
        if let Some(o) = answer.as_object() {
            for (k, v) in o {
                if k != "inboundPeers" && k != "outboundPeers" {
                    self.fields.insert(k.clone(), v.clone());
                }
            }
        }
        for (list, into) in [
            ("inboundPeers", &mut self.inbound),
            ("outboundPeers", &mut self.outbound),
        ] {
            for p in answer[list].as_array().into_iter().flatten() {
                if let Some(id) = p["nodeId"].as_str() {
                    into.insert(id.to_string(), p.clone());
                }
            }
        }
        self.inbound.len() + self.outbound.len() > before
    }

    /// Whether every page was collected.
    pub fn is_complete(&self) -> bool {
        self.inbound.len() >= count(&self.fields, "numTotalInboundPeers")
            && self.outbound.len() >= count(&self.fields, "numTotalOutboundPeers")
    }

    /// OverlaySurvey.py's result entry: node fields and peers keyed by id.
    fn to_json(&self) -> Value {
        let mut o = self.fields.clone();
        o.insert("inboundPeers".into(), json!(self.inbound));
        o.insert("outboundPeers".into(), json!(self.outbound));
        Value::Object(o)
    }
}

/// The outcome of a survey.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub surveyor: String,
    /// The surveyor's version (`/info` `build`).
    pub surveyor_version: Option<String>,
    pub nonce: Option<u32>,
    /// Every node that answered (the surveyor included), pages merged.
    pub nodes: BTreeMap<String, Merged>,
    /// Nodes asked that never answered.
    pub missing: BTreeSet<String>,
    /// Nodes whose answer the surveyor could not decrypt or read.
    pub bad_response: BTreeSet<String>,
    /// Nodes that answered with fewer peers than their totals.
    pub incomplete: BTreeSet<String>,
    /// Whether the survey was cut short (Ctrl-C, or the node ended its run).
    pub interrupted: bool,
}

impl Outcome {
    /// Directed edges as OverlaySurvey.py draws them, (inbound peer → node) and (node →
    /// outbound peer), with the statistics of the side read last (nodes in id order,
    /// inbound lists before outbound ones, as the script's updates overwrite).
    pub fn edges(&self) -> BTreeMap<(String, String), Map<String, Value>> {
        let mut e = BTreeMap::new();
        for (id, m) in &self.nodes {
            for (list, inbound) in [(&m.inbound, true), (&m.outbound, false)] {
                for (peer, stats) in list {
                    let mut attrs = stats.as_object().cloned().unwrap_or_default();
                    attrs.remove("nodeId");
                    attrs.remove("version");
                    let key = if inbound {
                        (peer.clone(), id.clone())
                    } else {
                        (id.clone(), peer.clone())
                    };
                    e.insert(key, attrs);
                }
            }
        }
        e
    }

    /// Graph nodes with their attributes: every node that answered or was named in an
    /// answer, and the surveyor. `version` comes from the peer entries naming the node
    /// (the surveyor's from `/info`), the other fields from its own answer.
    pub fn graph_nodes(&self) -> BTreeMap<String, Map<String, Value>> {
        let mut g: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        if !self.surveyor.is_empty() {
            let attrs = g.entry(self.surveyor.clone()).or_default();
            if let Some(v) = &self.surveyor_version {
                attrs.insert("version".into(), json!(v));
            }
        }
        for (id, m) in &self.nodes {
            for peer in m.inbound.values().chain(m.outbound.values()) {
                if let Some(pid) = peer["nodeId"].as_str() {
                    let attrs = g.entry(pid.to_string()).or_default();
                    if let Some(v) = peer.get("version") {
                        attrs.insert("version".into(), v.clone());
                    }
                }
            }
            let attrs = g.entry(id.clone()).or_default();
            for f in NODE_FIELDS {
                if let Some(v) = m.fields.get(f) {
                    attrs.insert(f.into(), v.clone());
                }
            }
        }
        g
    }

    /// The JSON result file.
    pub fn to_json(&self, opts: &SurveyOptions, started: u64, finished: u64) -> Value {
        let topology: Map<String, Value> = self
            .nodes
            .iter()
            .map(|(id, m)| (id.clone(), m.to_json()))
            .collect();
        let responded = self.nodes.keys().filter(|n| **n != self.surveyor).count();
        json!({
            "surveyor": self.surveyor,
            "node": opts.node,
            "nonce": self.nonce,
            "collectSecs": opts.collect.as_secs(),
            "startedAt": started,
            "finishedAt": finished,
            "interrupted": self.interrupted,
            "topology": topology,
            "missing": self.missing,
            "badResponseNodes": self.bad_response,
            "incomplete": self.incomplete,
            "summary": {
                "nodes": self.graph_nodes().len(),
                "edges": self.edges().len(),
                "responded": responded,
                "missing": self.missing.len(),
            },
        })
    }

    /// The GraphML document (networkx's `write_graphml` layout and type names).
    pub fn to_graphml(&self) -> String {
        let nodes = self.graph_nodes();
        let edges = self.edges();
        let node_keys = key_types(nodes.values());
        let edge_keys = key_types(edges.values());
        let mut out = String::new();
        out.push_str("<?xml version='1.0' encoding='utf-8'?>\n");
        out.push_str(
            "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns \
             http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n",
        );
        let mut ids: BTreeMap<(&str, &str), String> = BTreeMap::new();
        for (scope, keys) in [("node", &node_keys), ("edge", &edge_keys)] {
            for (name, ty) in keys {
                let id = format!("d{}", ids.len());
                let _ = writeln!(
                    out,
                    "  <key id=\"{id}\" for=\"{scope}\" attr.name=\"{}\" attr.type=\"{ty}\" />",
                    xml_escape(name)
                );
                ids.insert((scope, name.as_str()), id);
            }
        }
        out.push_str("  <graph edgedefault=\"directed\">\n");
        for (id, attrs) in &nodes {
            let _ = writeln!(out, "    <node id=\"{}\">", xml_escape(id));
            write_data(&mut out, &ids, "node", attrs);
            out.push_str("    </node>\n");
        }
        for ((from, to), attrs) in &edges {
            let _ = writeln!(
                out,
                "    <edge source=\"{}\" target=\"{}\">",
                xml_escape(from),
                xml_escape(to)
            );
            write_data(&mut out, &ids, "edge", attrs);
            out.push_str("    </edge>\n");
        }
        out.push_str("  </graph>\n</graphml>\n");
        out
    }
}

/// GraphML type of a JSON value, as networkx names Python's types.
fn graphml_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some("long"),
        Value::Number(_) => Some("double"),
        Value::String(_) => Some("string"),
        _ => None,
    }
}

/// Every attribute name with the type of its first value.
fn key_types<'a>(
    elements: impl Iterator<Item = &'a Map<String, Value>>,
) -> BTreeMap<String, &'static str> {
    let mut keys = BTreeMap::new();
    for attrs in elements {
        for (k, v) in attrs {
            if let Some(t) = graphml_type(v) {
                keys.entry(k.clone()).or_insert(t);
            }
        }
    }
    keys
}

fn write_data(
    out: &mut String,
    ids: &BTreeMap<(&str, &str), String>,
    scope: &str,
    attrs: &Map<String, Value>,
) {
    for (k, v) in attrs {
        let Some(id) = ids.get(&(scope, k.as_str())) else {
            continue;
        };
        let text = match v {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => xml_escape(s),
            _ => continue,
        };
        let _ = writeln!(out, "      <data key=\"{id}\">{text}</data>");
    }
}

/// Escapes text for XML content and attributes; drops characters XML 1.0 cannot hold.
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => o.push(c),
        }
    }
    o
}

// ----- the driver --------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct Ask {
    /// Requests made for the current page (the first and the retries).
    attempts: u32,
    /// Page indices of the outstanding request.
    awaiting: Option<(u32, u32)>,
    /// When the outstanding request left the node's backlog.
    sent_at: Option<Instant>,
    /// A further page brought no new peer: the node is not paged any more.
    stalled: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    known: usize,
    responded: usize,
    waiting: usize,
    queued: usize,
    retries: u32,
    given_up: usize,
    edges: usize,
}

struct Driver<'a> {
    admin: &'a dyn Admin,
    opts: &'a SurveyOptions,
    stop: &'a AtomicBool,
    progress: Progress,
    me: String,
    known: BTreeSet<String>,
    asks: BTreeMap<String, Ask>,
    heard: BTreeSet<String>,
    merged: BTreeMap<String, Merged>,
    bad: BTreeSet<String>,
    given_up: BTreeSet<String>,
    retries: u32,
}

/// Distinct connections in merged answers.
fn edge_count(merged: &BTreeMap<String, Merged>) -> usize {
    let mut e: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (id, m) in merged {
        e.extend(m.inbound.keys().map(|p| (p.as_str(), id.as_str())));
        e.extend(m.outbound.keys().map(|p| (id.as_str(), p.as_str())));
    }
    e.len()
}

fn text_of(r: &Reply) -> &str {
    r.body.trim_end_matches(['\r', '\n'])
}

impl<'a> Driver<'a> {
    fn new(
        admin: &'a dyn Admin,
        opts: &'a SurveyOptions,
        stop: &'a AtomicBool,
        progress: Progress,
        me: String,
    ) -> Self {
        Driver {
            admin,
            opts,
            stop,
            progress,
            me,
            known: BTreeSet::new(),
            asks: BTreeMap::new(),
            heard: BTreeSet::new(),
            merged: BTreeMap::new(),
            bad: BTreeSet::new(),
            given_up: BTreeSet::new(),
            retries: 0,
        }
    }

    /// `/surveytopologytimesliced`. `Ok(false)`: the node is already queued.
    fn ask(&mut self, node: &str, idx: (u32, u32)) -> anyhow::Result<bool> {
        let r = self.admin.get(
            "surveytopologytimesliced",
            &[
                ("node", node.to_string()),
                ("inboundpeerindex", idx.0.to_string()),
                ("outboundpeerindex", idx.1.to_string()),
            ],
        )?;
        if text_of(&r).starts_with(TOPOLOGY_OK_PREFIX) {
            let a = self.asks.entry(node.to_string()).or_default();
            a.attempts += 1;
            a.awaiting = Some(idx);
            a.sent_at = None;
            return Ok(true);
        }
        match r.exception() {
            Some(e) if e == ALREADY_QUEUED => Ok(false),
            Some(e) if e == "bad public key" => {
                self.progress
                    .note(&format!("{node} is not a node id (a G… strkey): skipped"));
                self.given_up.insert(node.to_string());
                Ok(false)
            }
            Some(e) => bail!(
                "the node refused to ask {node}: {e}\nIf its survey is no longer in its \
                 reporting phase, start a new one (--from start)."
            ),
            None => bail!(
                "the node refused to ask {node}: HTTP {} {}",
                r.status,
                excerpt(&r.body)
            ),
        }
    }

    fn learn(&mut self, node: &str) -> anyhow::Result<()> {
        if node == self.me || self.known.contains(node) || self.known.len() >= self.opts.max_nodes {
            return Ok(());
        }
        self.known.insert(node.to_string());
        self.ask(node, (0, 0))?;
        Ok(())
    }

    fn counts(&self, queued: usize) -> Counts {
        Counts {
            known: self.known.len(),
            responded: self.heard.iter().filter(|n| **n != self.me).count(),
            waiting: self.asks.values().filter(|a| a.awaiting.is_some()).count(),
            queued,
            retries: self.retries,
            given_up: self.given_up.len(),
            edges: edge_count(&self.merged),
        }
    }

    fn show(&mut self, c: Counts) {
        self.progress.update(
            "reporting",
            c.responded as u64,
            c.known as u64,
            format!(
                "answered · {} waiting ({} queued at the node) · {} retries · {} given up · \
                 {} edges",
                c.waiting, c.queued, c.retries, c.given_up, c.edges
            ),
        );
    }

    /// Reads `/getsurveyresult` and merges it. Returns the node's backlog and whether its
    /// reporting run is going on.
    fn read_results(&mut self) -> anyhow::Result<(BTreeSet<String>, bool)> {
        let r = self.admin.get("getsurveyresult", &[])?;
        let v = r.json("/getsurveyresult")?;
        if let Some(e) = v.get("exception").and_then(Value::as_str) {
            bail!("/getsurveyresult failed: {e}");
        }
        let ids = |key: &str| -> BTreeSet<String> {
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        let backlog = ids("backlog");
        for b in ids("badResponseNodes") {
            if let Some(a) = self.asks.get_mut(&b)
                && a.awaiting.take().is_some()
            {
                self.progress
                    .note(&format!("{b} answered with something unreadable"));
            }
            self.bad.insert(b);
        }
        if let Some(topology) = v["topology"].as_object() {
            for (id, answer) in topology {
                if answer.is_null() {
                    continue;
                }
                let grew = self.merged.entry(id.clone()).or_default().absorb(answer);
                let first = self.heard.insert(id.clone());
                self.bad.remove(id);
                if let Some(a) = self.asks.get_mut(id)
                    && let Some(idx) = a.awaiting.take()
                {
                    // A later page that added nothing: it claims more peers than it lists.
                    if idx != (0, 0) && !grew && !first {
                        a.stalled = true;
                    }
                    a.attempts = 0;
                }
            }
        }
        let running = v["surveyInProgress"].as_bool().unwrap_or(false);
        Ok((backlog, running))
    }

    /// One look at the results: merge, ask new nodes, page incomplete ones, retry silent
    /// ones. Returns whether anything is still awaited.
    fn step(&mut self) -> anyhow::Result<bool> {
        self.step_at(Instant::now())
    }

    /// [`Driver::step`] with the time given (tests move it on themselves).
    fn step_at(&mut self, now: Instant) -> anyhow::Result<bool> {
        let (backlog, running) = self.read_results()?;
        for (id, a) in &mut self.asks {
            if a.awaiting.is_some() && a.sent_at.is_none() && !backlog.contains(id) {
                a.sent_at = Some(now);
            }
        }
        let awaiting = self.asks.values().any(|a| a.awaiting.is_some());
        if !running && awaiting {
            self.progress.note(
                "the node's reporting run ended (its reporting phase is over, or /stopsurvey \
                 was called); asking again starts a new run",
            );
        }
        // Nodes named in answers.
        let named: Vec<String> = self
            .merged
            .values()
            .flat_map(|m| m.inbound.keys().chain(m.outbound.keys()))
            .cloned()
            .collect();
        for n in named {
            self.learn(&n)?;
        }
        // Pages still missing.
        let pages: Vec<(String, (u32, u32))> = self
            .merged
            .iter()
            .filter(|(id, m)| **id != self.me && !m.is_complete())
            .filter(|(id, _)| {
                self.asks
                    .get(*id)
                    .is_none_or(|a| a.awaiting.is_none() && !a.stalled)
            })
            .map(|(id, m)| {
                (
                    id.clone(),
                    (m.inbound.len() as u32, m.outbound.len() as u32),
                )
            })
            .collect();
        for (n, idx) in pages {
            self.ask(&n, idx)?;
        }
        // Silent nodes: asked again with a doubling wait, then given up on.
        let silent: Vec<(String, (u32, u32), bool)> = self
            .asks
            .iter()
            .filter_map(|(n, a)| {
                let idx = a.awaiting?;
                let sent = a.sent_at?;
                let wait = retry_wait(self.opts.response_timeout, a.attempts);
                (now.saturating_duration_since(sent) >= wait)
                    .then(|| (n.clone(), idx, a.attempts <= self.opts.retries))
            })
            .collect();
        for (n, idx, retry) in silent {
            if retry {
                self.retries += 1;
                self.ask(&n, idx)?;
            } else {
                if let Some(a) = self.asks.get_mut(&n) {
                    a.awaiting = None;
                }
                self.given_up.insert(n);
            }
        }
        let c = self.counts(backlog.len());
        self.show(c);
        Ok(c.waiting > 0)
    }

    fn outcome(&self) -> Outcome {
        let missing = self
            .known
            .iter()
            .filter(|n| !self.heard.contains(*n) && !self.bad.contains(*n))
            .cloned()
            .collect();
        let incomplete = self
            .merged
            .iter()
            .filter(|(_, m)| !m.is_complete())
            .map(|(id, _)| id.clone())
            .collect();
        Outcome {
            surveyor: self.me.clone(),
            surveyor_version: None,
            nonce: None,
            nodes: self.merged.clone(),
            missing,
            bad_response: self.bad.clone(),
            incomplete,
            interrupted: false,
        }
    }
}

/// Runs the survey and returns what it found (nothing is written).
pub fn survey(
    admin: &dyn Admin,
    opts: &SurveyOptions,
    stop: &AtomicBool,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        opts.collect <= MAX_COLLECT,
        "--collect-secs must be at most {} (stellar-core ends a collecting phase after 30 \
         minutes by itself)",
        MAX_COLLECT.as_secs()
    );
    // Who we survey from, and its peers (OverlaySurvey.py's seeds).
    let info = admin.get("info", &[])?.json("/info")?;
    let version = info["info"]["build"].as_str().map(str::to_string);
    let scp = admin
        .get("scp", &[("fullkeys", "true".into()), ("limit", "0".into())])?
        .json("/scp")?;
    let me = scp["you"]
        .as_str()
        .or_else(|| info["info"]["node_id"].as_str())
        .ok_or_else(|| anyhow!("the node did not say who it is (/scp has no \"you\")"))?
        .to_string();
    let peers = admin
        .get("peers", &[("fullkeys", "true".into())])?
        .json("/peers")?;
    let mut seeds: Vec<String> = Vec::new();
    for dir in ["inbound", "outbound"] {
        for p in peers["authenticated_peers"][dir]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(id) = p["id"].as_str() {
                seeds.push(id.to_string());
            }
        }
    }
    seeds.extend(opts.extra_nodes.iter().cloned());

    let mut progress = Progress::new(opts.progress);
    // Resuming: our node's /info names the active survey's nonce (stellar-core's does not).
    let mut nonce = info["info"]["survey"]["nonce"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok());
    let mut interrupted = false;
    if opts.from == StartPhase::Start {
        let n = match opts.nonce {
            Some(n) => n,
            None => {
                let r = crate::single::random32()?;
                u32::from_le_bytes([r[0], r[1], r[2], r[3]])
            }
        };
        nonce = Some(n);
        let r = admin.get("startsurveycollecting", &[("nonce", n.to_string())])?;
        if text_of(&r) != START_COLLECTING_OK {
            bail!(
                "the node refused to start a survey: {}\nA survey is already active on it (a \
                 survey's reporting phase lasts up to 3 hours after collecting ends). Resume \
                 it with --from stop (still collecting) or --from report, or wait for it to \
                 end.",
                r.exception().unwrap_or_else(|| excerpt(&r.body))
            );
        }
        let secs = opts.collect.as_secs();
        progress.stage(
            "collecting",
            Some(secs.max(1)),
            format!("{secs} s, nonce {n}, surveyor {me}"),
        );
        let start = Instant::now();
        let mut last_info = Instant::now();
        while start.elapsed() < opts.collect {
            if !(Driver::wait_for(stop, Duration::from_millis(250))) {
                interrupted = true;
                break;
            }
            let el = start.elapsed().min(opts.collect).as_secs();
            progress.update("collecting", el, secs.max(1), format!("s · nonce {n}"));
            // Keeps tunnels alive and notices a node that went away.
            if last_info.elapsed() >= Duration::from_secs(10) {
                admin.get("info", &[])?;
                last_info = Instant::now();
            }
        }
    }
    if interrupted {
        progress.abandon();
        bail!(
            "interrupted while collecting: the survey goes on in the network; finish it with \
             `stellar-overlay survey --node {} --from stop --out FILE`",
            opts.node
        );
    }
    if matches!(opts.from, StartPhase::Start | StartPhase::Stop) {
        let r = admin.get("stopsurveycollecting", &[])?;
        if text_of(&r) != STOP_COLLECTING_OK {
            progress.finish();
            bail!(
                "the node refused to stop collecting: {}\nNo survey is collecting on it: start \
                 one (--from start), or if its collecting phase is over already, use --from \
                 report.",
                r.exception().unwrap_or_else(|| excerpt(&r.body))
            );
        }
        progress.stage(
            "stopping",
            None,
            format!(
                "waiting {} s for STOP_COLLECTING to reach the network",
                opts.stop_wait.as_secs_f64()
            ),
        );
        if !Driver::wait_for(stop, opts.stop_wait) {
            progress.abandon();
            bail!(
                "interrupted: collecting is stopped; ask the nodes with `stellar-overlay \
                 survey --node {} --from report --out FILE`",
                opts.node
            );
        }
    } else {
        // OverlaySurvey.py does the same: end the node's run so the next request starts a
        // new one with empty results.
        let r = admin.get("stopsurvey", &[])?;
        if text_of(&r) != STOP_SURVEY_OK {
            bail!("/stopsurvey answered: {}", excerpt(&r.body));
        }
    }

    let mut d = Driver::new(admin, opts, stop, progress, me.clone());
    d.progress.stage(
        "reporting",
        Some(seeds.len() as u64),
        "asking the node's peers".into(),
    );
    for s in &seeds {
        d.learn(s)?;
    }
    loop {
        if !Driver::wait_for(d.stop, opts.poll) {
            interrupted = true;
            d.progress.note("interrupted: writing what arrived");
            break;
        }
        if !d.step()? {
            break;
        }
    }
    // Take in anything that arrived with the last answers.
    let _ = d.read_results();
    if interrupted {
        d.progress.abandon();
    } else {
        d.progress.finish();
    }
    let mut out = d.outcome();
    out.surveyor_version = version;
    out.nonce = nonce;
    out.interrupted = interrupted;
    Ok(out)
}

impl Driver<'_> {
    fn wait_for(stop: &AtomicBool, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
        }
        !stop.load(Ordering::Relaxed)
    }
}

fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| {
        format!(
            "cannot write {}: choose another --out (does its directory exist?)",
            path.display()
        )
    })
}

/// The JSON and GraphML paths, which must differ (an `--out` with no file name, such as
/// `..`, gets no extension).
fn output_paths(opts: &SurveyOptions) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (json, graphml) = (opts.json_path(), opts.graphml_path());
    anyhow::ensure!(
        json != graphml,
        "--out {} must name a file (it gets the extension .graphml for the graph)",
        opts.out.display()
    );
    Ok((json, graphml))
}

/// Writes the JSON result and the GraphML; returns their paths.
fn write_outputs(
    opts: &SurveyOptions,
    outcome: &Outcome,
    json: &Value,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (json_path, graphml_path) = output_paths(opts)?;
    write_file(&json_path, &serde_json::to_string_pretty(json)?)?;
    write_file(&graphml_path, &outcome.to_graphml())?;
    Ok((json_path, graphml_path))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `stellar-overlay survey`: runs the survey, writes both files, prints a summary.
pub fn run(opts: &SurveyOptions, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let admin = HttpAdmin::new(&opts.node)?;
    // Fail on an unreachable node, then on an unwritable output, before spending minutes
    // on the survey.
    admin.get("info", &[])?;
    let (json_path, graphml_path) = output_paths(opts)?;
    write_file(&json_path, "")?;
    write_file(&graphml_path, "")?;
    let started = unix_now();
    let outcome = survey(&admin, opts, &stop)?;
    let finished = unix_now();
    let json = outcome.to_json(opts, started, finished);
    write_outputs(opts, &outcome, &json)?;
    let s = &json["summary"];
    println!(
        "surveyed from {}: {} nodes ({} answered besides the surveyor), {} connections; {} \
         missing, {} unreadable, {} incomplete{}",
        outcome.surveyor,
        s["nodes"],
        s["responded"],
        s["edges"],
        outcome.missing.len(),
        outcome.bad_response.len(),
        outcome.incomplete.len(),
        if outcome.interrupted {
            " (interrupted)"
        } else {
            ""
        },
    );
    println!(
        "wrote {} and {}",
        json_path.display(),
        graphml_path.display()
    );
    if !outcome.missing.is_empty() {
        println!(
            "missing (asked, never answered): {}",
            outcome
                .missing
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let responded = outcome
        .nodes
        .keys()
        .filter(|n| **n != outcome.surveyor)
        .count();
    if responded == 0 && !outcome.missing.is_empty() {
        bail!(
            "no node answered. Nodes answer only surveyors in their SURVEYOR_KEYS or, when \
             that is empty, in their transitive quorum: survey from a node they trust, or add \
             {} to their SURVEYOR_KEYS",
            outcome.surveyor
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A node whose peers answer at once, except the silent ones.
    struct Fake {
        me: String,
        /// node → (inbound ids, outbound ids)
        net: BTreeMap<String, (Vec<String>, Vec<String>)>,
        silent: BTreeSet<String>,
        state: RefCell<FakeState>,
    }

    #[derive(Default)]
    struct FakeState {
        topology: BTreeMap<String, Option<Value>>,
        asked: Vec<(String, u32, u32)>,
        collecting: bool,
        reporting: bool,
    }

    fn peer(id: &str) -> Value {
        json!({"nodeId": id, "version": "v1", "bytesRead": 10, "averageLatencyMs": 3})
    }

    fn answer(net: &(Vec<String>, Vec<String>), i: u32, o: u32) -> Value {
        let page = |l: &[String], from: u32| -> Value {
            let v: Vec<Value> = l
                .iter()
                .skip(from as usize)
                .take(2)
                .map(|p| peer(p))
                .collect();
            if v.is_empty() { Value::Null } else { json!(v) }
        };
        json!({
            "numTotalInboundPeers": net.0.len(),
            "numTotalOutboundPeers": net.1.len(),
            "isValidator": true,
            "inboundPeers": page(&net.0, i),
            "outboundPeers": page(&net.1, o),
        })
    }

    impl Admin for Fake {
        fn get(&self, route: &str, q: &[(&str, String)]) -> anyhow::Result<Reply> {
            let mut s = self.state.borrow_mut();
            let ok = |b: String| {
                Ok(Reply {
                    status: 200,
                    body: b,
                })
            };
            match route {
                "info" => ok(json!({"info": {"build": "fake"}}).to_string()),
                "scp" => ok(json!({"you": self.me}).to_string()),
                "peers" => {
                    let (i, o) = &self.net[&self.me];
                    let ids = |l: &[String]| -> Vec<Value> {
                        l.iter().map(|p| json!({"id": p})).collect()
                    };
                    ok(
                        json!({"authenticated_peers": {"inbound": ids(i), "outbound": ids(o)}})
                            .to_string(),
                    )
                }
                "startsurveycollecting" => {
                    s.collecting = true;
                    ok(START_COLLECTING_OK.into())
                }
                "stopsurveycollecting" => {
                    s.collecting = false;
                    s.reporting = true;
                    ok(STOP_COLLECTING_OK.into())
                }
                "surveytopologytimesliced" => {
                    let node = q[0].1.clone();
                    let (i, o) = (q[1].1.parse().unwrap(), q[2].1.parse().unwrap());
                    s.asked.push((node.clone(), i, o));
                    let answer = (!self.silent.contains(&node))
                        .then(|| self.net.get(&node).map(|n| answer(n, i, o)))
                        .flatten();
                    s.topology.insert(node, answer);
                    ok("Adding node.Survey already running!".into())
                }
                "getsurveyresult" => {
                    let mut t = s.topology.clone();
                    t.insert(self.me.clone(), Some(answer(&self.net[&self.me], 0, 0)));
                    ok(json!({"backlog": null, "badResponseNodes": null,
                              "surveyInProgress": s.reporting, "topology": t})
                    .to_string())
                }
                _ => Ok(Reply {
                    status: 404,
                    body: String::new(),
                }),
            }
        }
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    fn quick() -> SurveyOptions {
        SurveyOptions {
            collect: Duration::ZERO,
            stop_wait: Duration::ZERO,
            poll: Duration::from_millis(1),
            response_timeout: Duration::from_millis(5),
            progress: false,
            ..SurveyOptions::new("http://x", "/dev/null")
        }
    }

    /// A ring a → b → c → d → a plus a → c; d is silent. `a` has 3 peers (pages of 2).
    fn ring(silent: &[&str]) -> Fake {
        let mut net = BTreeMap::new();
        net.insert(s("a"), (vec![s("d")], vec![s("b"), s("c")]));
        net.insert(s("b"), (vec![s("a")], vec![s("c")]));
        net.insert(s("c"), (vec![s("a"), s("b")], vec![s("d")]));
        net.insert(s("d"), (vec![s("c")], vec![s("a")]));
        Fake {
            me: s("b"),
            net,
            silent: silent.iter().map(|x| s(x)).collect(),
            state: RefCell::default(),
        }
    }

    #[test]
    fn a_survey_finds_every_edge_and_retries_then_gives_up_on_silent_nodes() {
        let fake = ring(&["d"]);
        let stop = AtomicBool::new(false);
        let out = survey(&fake, &quick(), &stop).unwrap();
        assert_eq!(out.surveyor, "b");
        assert_eq!(out.nodes.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(out.missing, BTreeSet::from([s("d")]));
        let edges: BTreeSet<(String, String)> = out.edges().into_keys().collect();
        let want: BTreeSet<(String, String)> =
            [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d"), ("d", "a")]
                .iter()
                .map(|(x, y)| (s(x), s(y)))
                .collect();
        assert_eq!(edges, want);
        // The silent node: once, then the default 2 retries.
        let asked = &fake.state.borrow().asked;
        assert_eq!(asked.iter().filter(|a| a.0 == "d").count(), 3, "{asked:?}");
        // c listed 2 inbound of 2, 1 outbound of 1: one page. Everyone complete.
        assert!(out.incomplete.is_empty(), "{:?}", out.incomplete);
        assert_eq!(
            out.graph_nodes().keys().collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn nodes_with_more_peers_than_a_page_are_paged() {
        let mut fake = ring(&[]);
        // a: 5 outbound peers, pages of 2 → indices 0, 2, 4.
        let outs: Vec<String> = ["b", "c", "e", "f", "g"].iter().map(|x| s(x)).collect();
        fake.net.get_mut("a").unwrap().1 = outs;
        let stop = AtomicBool::new(false);
        let out = survey(&fake, &quick(), &stop).unwrap();
        assert_eq!(out.nodes["a"].outbound.len(), 5);
        let asked = &fake.state.borrow().asked;
        let pages: Vec<(u32, u32)> = asked
            .iter()
            .filter(|a| a.0 == "a")
            .map(|a| (a.1, a.2))
            .collect();
        assert_eq!(pages, [(0, 0), (1, 2), (1, 4)]);
        // e, f, g never answer (unknown to the fake): missing, after their retries.
        assert_eq!(
            out.missing,
            ["e", "f", "g"]
                .iter()
                .map(|x| s(x))
                .collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn retry_waits_double_from_the_response_timeout() {
        let t = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=5).map(|a| retry_wait(t, a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480]);
        // Not asked yet counts as once; the exponent stops at 16; no overflow.
        assert_eq!(retry_wait(t, 0), t);
        assert_eq!(retry_wait(t, 17), t * 65_536);
        assert_eq!(retry_wait(t, u32::MAX), t * 65_536);
        assert_eq!(retry_wait(Duration::MAX, 3), Duration::MAX);
    }

    #[test]
    fn a_silent_node_is_asked_again_after_doubling_waits_then_given_up_on() {
        let fake = ring(&["d"]);
        let opts = SurveyOptions {
            response_timeout: Duration::from_secs(10),
            retries: 3,
            ..quick()
        };
        let stop = AtomicBool::new(false);
        let mut d = Driver::new(&fake, &opts, &stop, Progress::new(false), s("b"));
        let asked = || {
            fake.state
                .borrow()
                .asked
                .iter()
                .filter(|a| a.0 == "d")
                .count()
        };
        d.learn("d").unwrap();
        assert_eq!(asked(), 1);
        let ms = Duration::from_millis;
        // The fake's backlog is always empty: each request has left by the next look,
        // and its wait runs from then.
        let mut sent = Instant::now();
        assert!(d.step_at(sent).unwrap());
        let mut wait = opts.response_timeout;
        for retry in 1..=opts.retries as usize {
            assert!(d.step_at(sent + wait - ms(1)).unwrap());
            assert_eq!(asked(), retry, "asked again before {wait:?}");
            assert!(d.step_at(sent + wait).unwrap());
            assert_eq!(asked(), retry + 1, "not asked again after {wait:?}");
            assert_eq!(d.retries, retry as u32);
            // The retry leaves at the next look.
            sent += wait;
            assert!(d.step_at(sent).unwrap());
            wait *= 2;
        }
        // After the last retry: 80 s, then given up on, not asked again.
        assert_eq!(wait, 8 * opts.response_timeout);
        d.step_at(sent + wait - ms(1)).unwrap();
        assert!(!d.given_up.contains("d"));
        d.step_at(sent + wait).unwrap();
        assert!(d.given_up.contains("d"), "given up on after {wait:?}");
        assert_eq!(asked(), 1 + opts.retries as usize);
        assert!(d.asks["d"].awaiting.is_none());
        assert!(d.outcome().missing.contains("d"));
    }

    #[test]
    fn the_json_and_the_graphml_never_share_a_path() {
        let paths = |out: &str| {
            let o = SurveyOptions::new("http://x", out);
            (o.json_path(), o.graphml_path())
        };
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(paths("x.json"), (p("x.json"), p("x.graphml")));
        assert_eq!(paths("d/x"), (p("d/x"), p("d/x.graphml")));
        assert_eq!(paths("x.tar.gz"), (p("x.tar.gz"), p("x.tar.graphml")));
        // Asked for a .graphml: the graph goes there, the JSON beside it.
        assert_eq!(paths("d/x.graphml"), (p("d/x.json"), p("d/x.graphml")));
        assert_eq!(paths("x.GraphML"), (p("x.json"), p("x.GraphML")));
        for out in [
            "x.json",
            "x",
            "x.graphml",
            "x.GRAPHML",
            ".graphml",
            "x.graphml.json",
        ] {
            let (json, graphml) = paths(out);
            assert_ne!(
                json.to_string_lossy().to_lowercase(),
                graphml.to_string_lossy().to_lowercase(),
                "{out}"
            );
        }
        // No file name: refused rather than one file written over the other.
        let e = output_paths(&SurveyOptions::new("http://x", "..")).unwrap_err();
        assert!(e.to_string().contains("must name a file"), "{e}");
    }

    #[test]
    fn an_out_ending_in_graphml_gets_the_graph_and_the_json_beside_it() {
        let dir = std::env::temp_dir().join(format!("survey-cli-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = ring(&[]);
        let outcome = survey(&fake, &quick(), &AtomicBool::new(false)).unwrap();
        for (out, json_name) in [("a.graphml", "a.json"), ("b.json", "b.json")] {
            let opts = SurveyOptions {
                out: dir.join(out),
                ..quick()
            };
            let json = outcome.to_json(&opts, 1, 2);
            let (jp, gp) = write_outputs(&opts, &outcome, &json).unwrap();
            assert_eq!(jp, dir.join(json_name));
            assert_eq!(gp, dir.join(out).with_extension("graphml"));
            let written: Value =
                serde_json::from_str(&std::fs::read_to_string(&jp).unwrap()).unwrap();
            assert_eq!(written, json, "{out}: the JSON");
            let g = std::fs::read_to_string(&gp).unwrap();
            assert!(g.starts_with("<?xml"), "{out}: {g}");
            assert!(g.trim_end().ends_with("</graphml>"), "{out}: {g}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn graphml_has_networkx_types_and_escapes_text() {
        let mut out = Outcome {
            surveyor: s("GA"),
            surveyor_version: Some(s("v<1>&\"x\"")),
            ..Outcome::default()
        };
        let mut m = Merged::default();
        m.absorb(&json!({
            "numTotalInboundPeers": 0, "numTotalOutboundPeers": 1, "isValidator": false,
            "inboundPeers": null,
            "outboundPeers": [{"nodeId": "GB", "version": "v2", "bytesRead": 7,
                               "averageLatencyMs": 1}],
        }));
        out.nodes.insert(s("GA"), m);
        let g = out.to_graphml();
        assert!(
            g.contains("attr.name=\"isValidator\" attr.type=\"boolean\""),
            "{g}"
        );
        assert!(
            g.contains("attr.name=\"bytesRead\" attr.type=\"long\""),
            "{g}"
        );
        assert!(
            g.contains("attr.name=\"version\" attr.type=\"string\""),
            "{g}"
        );
        assert!(g.contains("v&lt;1&gt;&amp;&quot;x&quot;"), "{g}");
        assert!(g.contains("<edge source=\"GA\" target=\"GB\">"), "{g}");
        assert!(!g.contains("nodeId"), "{g}");
    }

    #[test]
    fn a_refused_start_says_what_to_do() {
        struct Busy;
        impl Admin for Busy {
            fn get(&self, route: &str, _: &[(&str, String)]) -> anyhow::Result<Reply> {
                let body = match route {
                    "info" => json!({"info": {}}).to_string(),
                    "scp" => json!({"you": "GA"}).to_string(),
                    "peers" => json!({"authenticated_peers": {}}).to_string(),
                    _ => "Failed to start survey collecting. Another survey is active on the \
                          network."
                        .to_string(),
                };
                Ok(Reply { status: 409, body })
            }
        }
        let e = survey(&Busy, &quick(), &AtomicBool::new(false)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("Another survey is active"), "{msg}");
        assert!(msg.contains("--from stop"), "{msg}");
    }
}
