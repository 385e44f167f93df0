//! `swctl serve` for the tests, and its clients not written in Rust: curl
//! (HTTP POST over the Unix socket) and tests/ws_client.py (Python's
//! `websockets`, a WebSocket over the same socket).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use super::{Lab, sh};

pub struct Server {
    child: Child,
    pub socket: String,
}

impl Server {
    /// `swctl serve --socket /run/swctl/api-test-P.sock` with the lab's
    /// environment (its OVSDB).
    pub fn start(lab: &Lab) -> Server {
        Server::start_with(lab, &[])
    }

    /// The same with more arguments (`--listen ADDR`).
    pub fn start_with(lab: &Lab, more: &[&str]) -> Server {
        let socket = format!("/run/swctl/api-test-{}.sock", lab.p);
        let child = Command::new(env!("CARGO_BIN_EXE_swctl"))
            .args(["serve", "--socket", &socket])
            .args(more)
            .envs(lab.env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::null())
            .spawn()
            .expect("start swctl serve");
        let t = std::time::Instant::now();
        while !std::path::Path::new(&socket).exists() && t.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Server { child, socket }
    }

    /// One JSON-RPC call with curl; the whole answer.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let out = sh(&[
            "curl",
            "-s",
            "--max-time",
            "30",
            "--unix-socket",
            &self.socket,
            "-H",
            "content-type: application/json",
            "-d",
            &body.to_string(),
            "http://localhost/",
        ]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{method}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(self.socket.replace(".sock", ".token"));
    }
}

/// tests/ws_client.py connected to a server: requests and notifications
/// over one WebSocket.
pub struct WsClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl WsClient {
    pub fn connect(srv: &Server) -> WsClient {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_client.py");
        let mut child = Command::new("timeout")
            .args(["300", "/usr/bin/python3", script, &srv.socket])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run tests/ws_client.py");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        WsClient {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self, cmd: &str) -> Value {
        writeln!(self.stdin, "{cmd}").expect("write to the client");
        let mut l = String::new();
        self.stdout.read_line(&mut l).expect("read the client");
        serde_json::from_str(&l).unwrap_or_else(|_| panic!("{cmd}: the client said {l:?}"))
    }

    /// A request over the WebSocket; its answer.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.line(&format!("call {method} {params}"))
    }

    /// A request sent, its answer not awaited (returns once it is sent).
    pub fn send(&mut self, method: &str, params: Value) {
        let v = self.line(&format!("send {method} {params}"));
        assert!(v["sent"].is_number(), "{v}");
    }

    /// The next notification's `result`, waiting at most `secs`; None
    /// when none came.
    pub fn next(&mut self, secs: f64) -> Option<Value> {
        let v = self.line(&format!("next {secs}"));
        if v["timeout"] == true {
            return None;
        }
        let mut r = v["params"]["result"].clone();
        r["received_ms"] = v["received_ms"].clone();
        Some(r)
    }

    /// Notifications until one `matches` (within `secs` of each other);
    /// the one that did, and those before it.
    pub fn until(
        &mut self,
        secs: f64,
        matches: impl Fn(&Value) -> bool,
    ) -> (Option<Value>, Vec<Value>) {
        let mut seen = vec![];
        while let Some(v) = self.next(secs) {
            if matches(&v) {
                return (Some(v), seen);
            }
            seen.push(v);
        }
        (None, seen)
    }

    /// Kill the client (a client that goes away mid-request).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WsClient {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        self.kill();
    }
}

/// Debian's Chromium, headless, driven by tests/browser.py (the Chrome
/// DevTools Protocol on a pipe): a page loaded, JavaScript evaluated in
/// it, waits on what it shows, screenshots.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    pub fn start() -> Browser {
        let mut child = Command::new("timeout")
            .args(["300", "/usr/bin/python3"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/browser.py (Debian's chromium)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Browser {
            child,
            stdin,
            stdout,
        }
    }

    /// One command (`open URL`, `eval EXPR`, `wait SECS EXPR`, `shot FILE`),
    /// its answer.
    pub fn say(&mut self, line: &str) -> Value {
        writeln!(self.stdin, "{line}").expect("to the browser");
        let mut out = String::new();
        self.stdout.read_line(&mut out).expect("from the browser");
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|_| panic!("{line}: the browser said {out:?} (Chromium gone?)"));
        assert!(v.get("error").is_none(), "{line}: {v}");
        v
    }

    pub fn eval(&mut self, expr: &str) -> Value {
        self.say(&format!("eval {expr}"))["value"].clone()
    }

    /// Wait (at most `secs`) for `expr` to be truthy: its value and the
    /// milliseconds it took, or None with what it was last.
    pub fn wait(&mut self, secs: f64, expr: &str) -> Result<(Value, f64), Value> {
        let v = self.say(&format!("wait {secs} {expr}"));
        if v["ok"] == true {
            Ok((v["value"].clone(), v["ms"].as_f64().unwrap_or(0.0)))
        } else {
            Err(v["value"].clone())
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let t = std::time::Instant::now();
        while t.elapsed().as_secs() < 10 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
