//! The bearer token of `swctl serve --listen`: made at start (32 random
//! bytes from the kernel, hex), kept in a file of mode 0600 that only root
//! reads, and checked on every HTTP request and WebSocket upgrade that
//! comes over TCP (`Authorization: Bearer TOKEN`; without it: 401, nothing
//! runs). The Unix socket needs none: its mode 0600 already lets only root
//! in.

use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::server::{HttpBody, HttpResponse};

/// A new token, written to `path` (mode 0600, replacing an older one).
pub(super) fn make_token(path: &Path) -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{token}")?;
    Ok(token)
}

/// Equal in time independent of where they differ (a token compared byte
/// by byte with an early exit tells a prober how much of it was right).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request's `Authorization` header carries `token`.
fn authorized<B>(req: &http::Request<B>, token: &str) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()))
}

/// A service that lets through only requests with the token.
#[derive(Clone)]
pub(super) struct Bearer<S> {
    inner: S,
    token: Arc<str>,
}

impl<S> Bearer<S> {
    pub(super) fn new(inner: S, token: Arc<str>) -> Bearer<S> {
        Bearer { inner, token }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<S, B> tower::Service<http::Request<B>> for Bearer<S>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if authorized(&req, &self.token) {
            return Box::pin(self.inner.call(req));
        }
        let denied = http::Response::builder()
            .status(http::StatusCode::UNAUTHORIZED)
            .header(http::header::WWW_AUTHENTICATE, "Bearer")
            .body(HttpBody::from(
                "swctl: this API needs `Authorization: Bearer TOKEN` over TCP (the token: the file `swctl serve` printed)\n",
            ));
        Box::pin(async move { denied.map_err(|e| e.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_passes() {
        let req = |h: Option<&str>| {
            let mut b = http::Request::builder();
            if let Some(h) = h {
                b = b.header("authorization", h);
            }
            b.body(()).unwrap()
        };
        assert!(authorized(&req(Some("Bearer abc")), "abc"));
        assert!(!authorized(&req(Some("Bearer abd")), "abc"));
        assert!(!authorized(&req(Some("Bearer ab")), "abc"));
        assert!(!authorized(&req(Some("abc")), "abc"));
        assert!(!authorized(&req(None), "abc"));
    }

    #[test]
    fn the_token_file_is_roots_only() {
        use std::os::unix::fs::PermissionsExt;
        let p = std::env::temp_dir().join(format!("swctl-token-{}", std::process::id()));
        let t = make_token(&p).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim(), t);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_ne!(make_token(&p).unwrap(), t, "a new one each start");
        std::fs::remove_file(&p).unwrap();
    }
}
