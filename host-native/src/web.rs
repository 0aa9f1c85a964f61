//! Serving the web demo (`web-demo/`, built into `web-demo/dist`): static files for
//! `stellar-overlay serve` and `stellar-overlay localnet --web`, the local network's
//! description at `/api/localnet.json` (node IDs, peer addresses, admin URLs, the bridge),
//! and CORS for the admin APIs the page calls from its own origin.
//!
//! Static files are read from one directory (no `..`, no symlinks out of it); `index.html`
//! is never cached, hashed assets are. Files under `/pkg/` come from a second directory
//! if one is given (the raw `target/wasm-pkg/web` package, for pages of your own).

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::node::Command;

/// What a web server serves.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// The built app (`web-demo/dist`).
    pub dir: PathBuf,
    /// Served under `/pkg/` if set (`target/wasm-pkg/web`).
    pub pkg: Option<PathBuf>,
    /// Served as `/api/localnet.json` if set.
    pub localnet: Option<Value>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    pkg: Option<PathBuf>,
    localnet: Mutex<Option<Value>>,
}

/// A running web server.
#[derive(Debug)]
pub struct WebHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl WebHandle {
    /// Sets what `/api/localnet.json` answers.
    pub fn set_localnet(&self, v: Value) {
        if let Ok(mut l) = self.shared.localnet.lock() {
            *l = Some(v);
        }
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The origins a browser reports for the page (the address, and `localhost` for a
    /// loopback address).
    pub fn origins(&self) -> Vec<String> {
        origins_of(self.addr)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// The origins a page served on `addr` has.
pub fn origins_of(addr: SocketAddr) -> Vec<String> {
    let mut v = vec![format!("http://{addr}")];
    if addr.ip().is_loopback() {
        v.push(format!("http://localhost:{}", addr.port()));
        v.push(format!("http://127.0.0.1:{}", addr.port()));
    }
    v.dedup();
    v
}

/// Where the built app is: `WEB_DEMO_DIST`, else `web-demo/dist` under the current
/// directory or any parent of the executable (a cargo build lives in the repository).
pub fn find_dist() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WEB_DEMO_DIST") {
        return Some(PathBuf::from(d));
    }
    let mut roots = vec![std::env::current_dir().ok()];
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().map(|p| Some(p.to_path_buf())));
    }
    roots
        .into_iter()
        .flatten()
        .map(|r| r.join("web-demo").join("dist"))
        .find(|d| d.join("index.html").is_file())
}

/// `target/wasm-pkg/web` next to a found `web-demo/dist`, if it exists.
pub fn find_pkg(dist: &Path) -> Option<PathBuf> {
    let p = dist.parent()?.parent()?.join("target/wasm-pkg/web");
    p.is_dir().then_some(p)
}

/// Serves the app until the handle is stopped (or the process ends).
pub async fn serve(config: WebConfig) -> anyhow::Result<WebHandle> {
    if !config.dir.join("index.html").is_file() {
        anyhow::bail!(
            "{} has no index.html: build the web demo first (bash scripts/demo, or npm run build in web-demo/)",
            config.dir.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve the web demo on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        dir: config.dir,
        pkg: config.pkg,
        localnet: Mutex::new(config.localnet),
    });
    let app = Router::new()
        .route("/api/localnet.json", get(localnet_answer))
        .fallback(get(file))
        .with_state(Arc::clone(&shared));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "web server stopped");
        }
    });
    Ok(WebHandle { addr, shared, task })
}

/// The page's description of a local network: passphrase, bridge URL, and per node its
/// ID, peer address and admin URL.
pub fn localnet_json(net: &crate::localnet::Localnet) -> Value {
    serde_json::json!({
        "network": crate::localnet::LOCALNET_PASSPHRASE,
        "bridge": net.bridge.as_ref().map(|b| format!("ws://{}", b.local_addr())),
        "nodes": net.nodes.iter().map(|n| serde_json::json!({
            "id": n.handle.node_id.to_string(),
            "peer": n.handle.peer_addr.to_string(),
            "admin": n.http.map(|a| format!("http://{a}")),
        })).collect::<Vec<_>>(),
    })
}

async fn localnet_answer(State(st): State<Arc<Shared>>) -> Response {
    let v = st.localnet.lock().ok().and_then(|l| l.clone());
    match v {
        Some(v) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response(),
        // Not a localnet (`serve`): `null`, not a 404 the page would log as an error.
        None => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(Value::Null),
        )
            .into_response(),
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "graphml" | "xml" => "application/xml",
        "ts" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `rel` under `root`, refusing anything that could leave it.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    let canon = full.canonicalize().ok()?;
    canon
        .starts_with(root.canonicalize().ok()?)
        .then_some(canon)
}

async fn file(State(st): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path();
    let decoded = percent_decode(path);
    let (root, rel) = match (&st.pkg, decoded.strip_prefix("/pkg/")) {
        (Some(pkg), Some(rest)) => (pkg.clone(), rest.to_string()),
        _ => (st.dir.clone(), decoded.clone()),
    };
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel
    };
    let Some(full) = resolve(&root, &rel).filter(|p| p.is_file()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let read = tokio::task::spawn_blocking({
        let full = full.clone();
        move || std::fs::read(full)
    })
    .await;
    match read {
        Ok(Ok(bytes)) => {
            let immutable = rel.starts_with("assets/");
            Response::builder()
                .header(header::CONTENT_TYPE, content_type(&full))
                .header(
                    header::CACHE_CONTROL,
                    if immutable {
                        "public, max-age=31536000, immutable"
                    } else {
                        "no-cache"
                    },
                )
                .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
                .body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "cannot read file").into_response(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(Ok(v)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adds CORS for `origins` to `router`: an allowed `Origin` is echoed in
/// `Access-Control-Allow-Origin` (GET and preflight); any other origin gets no CORS
/// headers, so its page cannot read the answers.
pub fn with_cors(router: Router, origins: Vec<String>) -> Router {
    let origins = Arc::new(origins);
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let origins = Arc::clone(&origins);
            async move {
                let allowed = req
                    .headers()
                    .get(header::ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .filter(|o| origins.iter().any(|a| a == o))
                    .and_then(|o| HeaderValue::from_str(o).ok());
                let mut resp = if req.method() == Method::OPTIONS {
                    StatusCode::NO_CONTENT.into_response()
                } else {
                    next.run(req).await
                };
                let h = resp.headers_mut();
                h.insert(header::VARY, HeaderValue::from_static("Origin"));
                if let Some(o) = allowed {
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
                    h.insert(
                        header::ACCESS_CONTROL_ALLOW_METHODS,
                        HeaderValue::from_static("GET, OPTIONS"),
                    );
                }
                resp
            }
        },
    ))
}

/// Serves a node's admin API (as [`crate::admin::serve`]) with CORS for `origins`.
pub async fn serve_admin(
    addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    origins: Vec<String>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve the admin API on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = with_cors(crate::admin::router(commands), origins);
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

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("web-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("assets/a.js"), "x").unwrap();
        assert!(resolve(&dir, "/assets/a.js").is_some());
        assert!(resolve(&dir, "/assets/../assets/a.js").is_none());
        assert!(resolve(&dir, "/../etc/passwd").is_none());
        assert!(resolve(&dir, "/assets/missing.js").is_none());
        assert_eq!(percent_decode("/a%20b%2e"), "/a b.");
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn loopback_pages_have_both_origins() {
        let o = origins_of("127.0.0.1:8080".parse().unwrap());
        assert!(o.contains(&"http://127.0.0.1:8080".to_string()));
        assert!(o.contains(&"http://localhost:8080".to_string()));
    }
}
