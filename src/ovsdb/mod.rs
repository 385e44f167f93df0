//! swctl's own OVSDB client (RFC 7047): JSON-RPC 1.0 over a unix or TCP
//! stream, with the stream split into messages by `framing`, requests
//! matched to replies by id, the server's `echo` probes answered, `update`
//! notifications delivered to the caller, and a timeout on every request.
//! `ops` builds transactions as data and checks every per-operation result.
//!
//! Why not a crate: the `ovsdb` crate panics on the server's echo probe and
//! on notifications and mis-frames strings with escaped quotes; jsonrpsee
//! speaks only JSON-RPC 2.0 (../shared/ovsdb-notes.md).

pub mod framing;
pub mod ops;
pub mod schema;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

pub const DB: &str = "Open_vSwitch";

/// Failures talking to an OVSDB server, in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    #[error("{0:?} is not an OVSDB address (expected unix:PATH or tcp:HOST:PORT)")]
    BadAddress(String),
    #[error("no {} is listening at {addr} ({})", .server.what(), .server.hint())]
    NotListening {
        addr: String,
        server: Server,
        #[source]
        source: io::Error,
    },
    #[error("cannot connect to the OVSDB server at {addr}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("the OVSDB server at {addr} did not answer `{method}` within {secs} s")]
    Timeout {
        addr: String,
        method: String,
        secs: u64,
    },
    #[error("the connection to the OVSDB server at {addr} closed ({why})")]
    Disconnected { addr: String, why: String },
    #[error("the OVSDB server refused `{method}`: {error}")]
    Rpc { method: String, error: String },
    #[error("the OVSDB server at {addr} broke the protocol: {why}")]
    Protocol { addr: String, why: String },
    #[error("OVSDB transaction failed at operation {index} ({op}): {error}{}", .details.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Transaction {
        index: usize,
        op: String,
        error: String,
        details: Option<String>,
    },
    #[error("OVSDB transaction failed: {error}{}", .details.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Commit {
        error: String,
        details: Option<String>,
    },
    #[error(
        "OVSDB operation {op} matched {got} rows, expected {expected}: the row changed or vanished meanwhile"
    )]
    Count {
        op: String,
        expected: String,
        got: i64,
    },
    #[error("the OVSDB server's schema is not compatible: {0}")]
    Schema(String),
    #[error(
        "Open vSwitch did not apply the configuration within {secs} s (cur_cfg {cur} < next_cfg {want}): is ovs-vswitchd running? (a big change on the userspace datapath can keep it busy for tens of seconds: see its log)"
    )]
    NotApplied { secs: u64, cur: i64, want: i64 },
    #[error("Open vSwitch could not set up interface {iface}: {error}")]
    Interface { iface: String, error: String },
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, OvsdbError>>>>>;
type Writer = Arc<tokio::sync::Mutex<Box<dyn AsyncWrite + Unpin + Send>>>;

/// A connected client. Cheap to share by reference; requests may overlap.
pub struct Client {
    addr: String,
    writer: Writer,
    pending: Pending,
    next_id: AtomicU64,
    updates: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    closed: Arc<Mutex<Option<String>>>,
    pub timeout: Duration,
}

/// Which OVSDB server a connection is for: what a failure to reach it
/// tells the user to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Open vSwitch's database (ovs-vswitchd's)
    OpenVswitch,
    /// OVN's Northbound database
    Northbound,
    /// OVN's Southbound database
    Southbound,
}

impl Server {
    fn what(self) -> &'static str {
        match self {
            Server::OpenVswitch => "OVSDB server",
            Server::Northbound => "OVN Northbound database",
            Server::Southbound => "OVN Southbound database",
        }
    }
    fn hint(self) -> &'static str {
        match self {
            Server::OpenVswitch => {
                "is Open vSwitch running? `swctl ovs start` starts a private one"
            }
            Server::Northbound | Server::Southbound => {
                "is the OVN central running? `swctl ovn start` starts a private one; the lab's `[ovn]` names the addresses in use"
            }
        }
    }
}

/// Default time a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// Connect to `unix:PATH` or `tcp:HOST:PORT` (what ovs-vsctl's --db takes).
    pub async fn connect(addr: &str) -> Result<Client, OvsdbError> {
        Client::connect_to(addr, Server::OpenVswitch).await
    }

    /// Connect to the `server` database at `addr`: a failure says how to
    /// start that one.
    pub async fn connect_to(addr: &str, server: Server) -> Result<Client, OvsdbError> {
        let fail = |source: io::Error| {
            if matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) {
                OvsdbError::NotListening {
                    addr: addr.to_string(),
                    server,
                    source,
                }
            } else {
                OvsdbError::Connect {
                    addr: addr.to_string(),
                    source,
                }
            }
        };
        let connect_timeout = Duration::from_secs(5);
        let timed =
            |e: tokio::time::error::Elapsed| fail(io::Error::new(io::ErrorKind::TimedOut, e));
        let (r, w): (
            Box<dyn AsyncRead + Unpin + Send>,
            Box<dyn AsyncWrite + Unpin + Send>,
        ) = if let Some(p) = addr.strip_prefix("unix:") {
            let s = tokio::time::timeout(connect_timeout, tokio::net::UnixStream::connect(p))
                .await
                .map_err(timed)?
                .map_err(fail)?;
            let (r, w) = s.into_split();
            (Box::new(r), Box::new(w))
        } else if let Some(hp) = addr.strip_prefix("tcp:") {
            let s = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(hp))
                .await
                .map_err(timed)?
                .map_err(fail)?;
            s.set_nodelay(true).ok();
            let (r, w) = s.into_split();
            (Box::new(r), Box::new(w))
        } else {
            return Err(OvsdbError::BadAddress(addr.to_string()));
        };
        let writer: Writer = Arc::new(tokio::sync::Mutex::new(w));
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (utx, urx) = mpsc::unbounded_channel();
        let closed = Arc::new(Mutex::new(None));
        tokio::spawn(reader(
            addr.to_string(),
            r,
            writer.clone(),
            pending.clone(),
            utx,
            closed.clone(),
        ));
        Ok(Client {
            addr: addr.to_string(),
            writer,
            pending,
            next_id: AtomicU64::new(1),
            updates: tokio::sync::Mutex::new(urx),
            closed,
            timeout: REQUEST_TIMEOUT,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// One JSON-RPC request; `params` must be an array (the server drops
    /// the connection otherwise).
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        debug_assert!(params.is_array());
        crate::hook::crash_point();
        if let Some(why) = self.closed.lock().expect("lock").clone() {
            return Err(OvsdbError::Disconnected {
                addr: self.addr.clone(),
                why,
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id, tx);
        let msg = json!({"method": method, "params": params, "id": id});
        let bytes = serde_json::to_vec(&msg).expect("serializable");
        tracing::trace!(addr = %self.addr, %msg, "ovsdb send");
        {
            let mut w = self.writer.lock().await;
            if let Err(e) = w.write_all(&bytes).await {
                self.pending.lock().expect("lock").remove(&id);
                return Err(OvsdbError::Disconnected {
                    addr: self.addr.clone(),
                    why: e.to_string(),
                });
            }
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => r.map_err(|e| match e {
                OvsdbError::Rpc { error, .. } => OvsdbError::Rpc {
                    method: method.to_string(),
                    error,
                },
                e => e,
            }),
            Ok(Err(_)) => Err(OvsdbError::Disconnected {
                addr: self.addr.clone(),
                why: self
                    .closed
                    .lock()
                    .expect("lock")
                    .clone()
                    .unwrap_or_else(|| "reader stopped".into()),
            }),
            Err(_) => {
                self.pending.lock().expect("lock").remove(&id);
                Err(OvsdbError::Timeout {
                    addr: self.addr.clone(),
                    method: method.to_string(),
                    secs: self.timeout.as_secs(),
                })
            }
        }
    }

    /// `list_dbs`
    pub async fn list_dbs(&self) -> Result<Vec<String>, OvsdbError> {
        let v = self.request("list_dbs", json!([])).await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect())
    }

    /// `get_schema DB`
    pub async fn get_schema(&self, db: &str) -> Result<Value, OvsdbError> {
        self.request("get_schema", json!([db])).await
    }

    /// `echo`: a liveness check from our side.
    pub async fn echo(&self) -> Result<(), OvsdbError> {
        let v = self.request("echo", json!(["swctl"])).await?;
        if v != json!(["swctl"]) {
            return Err(OvsdbError::Protocol {
                addr: self.addr.clone(),
                why: format!("echo answered {v}"),
            });
        }
        Ok(())
    }

    /// Whether the connection is gone (the server closed it, or failed).
    pub fn is_closed(&self) -> bool {
        self.closed.lock().expect("lock").is_some()
    }

    /// `monitor DB ID REQUESTS`: the initial rows; later changes arrive
    /// through `next_update`.
    pub async fn monitor(&self, id: &str, requests: Value) -> Result<Value, OvsdbError> {
        self.request("monitor", json!([DB, id, requests])).await
    }

    /// The next `update` notification (params `[monitor-id, table-updates]`),
    /// or None after `wait`.
    pub async fn next_update(&self, wait: Duration) -> Option<Value> {
        let mut rx = self.updates.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    }
}

/// The reading half: split messages, answer echo, route replies and
/// notifications. On EOF or error every waiting request fails.
async fn reader(
    addr: String,
    mut r: Box<dyn AsyncRead + Unpin + Send>,
    writer: Writer,
    pending: Pending,
    updates: mpsc::UnboundedSender<Value>,
    closed: Arc<Mutex<Option<String>>>,
) {
    let mut split = framing::Splitter::new();
    let mut buf = vec![0u8; 64 * 1024];
    let why = loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break "the server closed it".to_string(),
            Ok(n) => n,
            Err(e) => break e.to_string(),
        };
        let msgs = match split.feed(&buf[..n]) {
            Ok(m) => m,
            Err(e) => break e.to_string(),
        };
        for m in msgs {
            tracing::trace!(%addr, %m, "ovsdb recv");
            if let Some(method) = m.get("method").and_then(|x| x.as_str()) {
                let id = m.get("id").cloned().unwrap_or(Value::Null);
                if method == "echo" && !id.is_null() {
                    // the server's inactivity probe: answer or be dropped
                    let reply = json!({"result": m.get("params").cloned().unwrap_or(json!([])), "error": null, "id": id});
                    let bytes = serde_json::to_vec(&reply).expect("serializable");
                    let mut w = writer.lock().await;
                    if let Err(e) = w.write_all(&bytes).await {
                        tracing::debug!(%addr, "echo reply failed: {e}");
                    }
                } else if id.is_null() {
                    if matches!(method, "update" | "update2" | "update3") {
                        let _ = updates.send(m.get("params").cloned().unwrap_or(Value::Null));
                    }
                } else {
                    // a request we do not serve: answer with an error, as RFC 7047 asks
                    let reply = json!({"result": null, "error": "not supported", "id": id});
                    let bytes = serde_json::to_vec(&reply).expect("serializable");
                    let mut w = writer.lock().await;
                    let _ = w.write_all(&bytes).await;
                }
                continue;
            }
            let Some(id) = m.get("id").and_then(|x| x.as_u64()) else {
                continue;
            };
            let Some(tx) = pending.lock().expect("lock").remove(&id) else {
                continue;
            };
            let err = m.get("error").cloned().unwrap_or(Value::Null);
            let res = if err.is_null() {
                Ok(m.get("result").cloned().unwrap_or(Value::Null))
            } else {
                let error = match &err {
                    Value::String(s) => s.clone(),
                    Value::Object(o) => {
                        let e = o.get("error").and_then(|x| x.as_str()).unwrap_or("error");
                        match o.get("details").and_then(|x| x.as_str()) {
                            Some(d) => format!("{e}: {d}"),
                            None => e.to_string(),
                        }
                    }
                    other => other.to_string(),
                };
                Err(OvsdbError::Rpc {
                    method: String::new(),
                    error,
                })
            };
            let _ = tx.send(res);
        }
    };
    *closed.lock().expect("lock") = Some(why.clone());
    for (_, tx) in pending.lock().expect("lock").drain() {
        let _ = tx.send(Err(OvsdbError::Disconnected {
            addr: addr.clone(),
            why: why.clone(),
        }));
    }
}
