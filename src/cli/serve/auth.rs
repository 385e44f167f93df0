//! The bearer token of `swctl serve --listen`: made at start (32 random
//! bytes from the kernel, hex), kept in a file of mode 0600 that only root
//! reads, and checked on every HTTP request and WebSocket upgrade that
//! comes over TCP (`Authorization: Bearer TOKEN`; without it: 401, nothing
//! runs). The Unix socket needs none: its mode 0600 already lets only root
//! in.
//!
//! A browser sends no such header (not on a WebSocket either), so the live
//! view's way in is Jupyter's: `GET /?token=TOKEN` is answered with a
//! redirect to the page without the token in its address and a cookie
//! holding it (`HttpOnly; SameSite=Strict`); a request carrying that cookie
//! counts as one with the header unless it comes from a page of another
//! origin (its `Origin` header is not this server's: cross-site WebSocket
//! hijacking).

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

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

/// The cookie the live view's browser keeps the token in.
const COOKIE: &str = "swctl_token";

/// Whether a request carries `token`: in its `Authorization` header, or in
/// the cookie from a page of this server's.
fn authorized<B>(req: &http::Request<B>, token: &str) -> bool {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()));
    header
        || (same_origin(req) && cookie(req).is_some_and(|t| same(t.as_bytes(), token.as_bytes())))
}

/// The token in the request's cookie, if any.
fn cookie<B>(req: &http::Request<B>) -> Option<&str> {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// No `Origin`, or this server's own (`http://HOST` as the request names it).
fn same_origin<B>(req: &http::Request<B>) -> bool {
    let Some(origin) = req.headers().get(http::header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok();
    match (origin, host) {
        (Some(o), Some(h)) => o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .is_some_and(|o| o == h),
        _ => false,
    }
}

/// `GET /?token=TOKEN&...` with the right token: the page's address without
/// it (the rest of the query kept), where the browser is sent with the
/// cookie.
fn token_exchange<B>(req: &http::Request<B>, token: &str) -> Option<String> {
    if req.method() != http::Method::GET {
        return None;
    }
    let query = req.uri().query()?;
    let mut right = false;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("token=") {
            Some(t) => {
                right |= same(t.as_bytes(), token.as_bytes());
                false
            }
            None => true,
        })
        .collect();
    right.then(|| {
        let path = req.uri().path();
        if rest.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", rest.join("&"))
        }
    })
}

/// Only requests with the token pass (in front of the API over TCP): a
/// browser's `?token=` is answered with the cookie, the rest with 401.
#[derive(Clone)]
pub(super) struct Bearer {
    token: Arc<str>,
}

impl Bearer {
    pub(super) fn new(token: Arc<str>) -> Bearer {
        Bearer { token }
    }
}

impl super::front::Answer for Bearer {
    fn answer<B>(&self, req: &http::Request<B>) -> Option<Result<HttpResponse, http::Error>> {
        if authorized(req, &self.token) {
            return None;
        }
        if let Some(to) = token_exchange(req, &self.token) {
            return Some(
                http::Response::builder()
                    .status(http::StatusCode::SEE_OTHER)
                    .header(http::header::LOCATION, to)
                    .header(
                        http::header::SET_COOKIE,
                        format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", self.token),
                    )
                    .header(http::header::CACHE_CONTROL, "no-store")
                    .body(HttpBody::from("")),
            );
        }
        Some(
            http::Response::builder()
                .status(http::StatusCode::UNAUTHORIZED)
                .header(http::header::WWW_AUTHENTICATE, "Bearer")
                .body(HttpBody::from(
                    "swctl: this API needs `Authorization: Bearer TOKEN` over TCP (the token: the file `swctl serve` printed); the live view: open /?token=TOKEN\n",
                )),
        )
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
    fn a_browser_comes_in_by_the_token_once_then_its_cookie() {
        let req = |uri: &str, headers: &[(&str, &str)]| {
            let mut b = http::Request::builder().method("GET").uri(uri);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap()
        };
        assert_eq!(
            token_exchange(&req("/?token=abc&lab=s4", &[]), "abc").as_deref(),
            Some("/?lab=s4")
        );
        assert_eq!(
            token_exchange(&req("/?token=abc", &[]), "abc").as_deref(),
            Some("/")
        );
        assert_eq!(token_exchange(&req("/?token=abd", &[]), "abc"), None);
        assert_eq!(token_exchange(&req("/?lab=s4", &[]), "abc"), None);
        let host = ("host", "127.0.0.1:8080");
        let c = ("cookie", "a=1; swctl_token=abc");
        assert!(authorized(&req("/", &[host, c]), "abc"));
        assert!(!authorized(
            &req("/", &[host, ("cookie", "swctl_token=abd")]),
            "abc"
        ));
        assert!(authorized(
            &req("/", &[host, c, ("origin", "http://127.0.0.1:8080")]),
            "abc"
        ));
        // a page of another site using the browser's cookie: refused
        assert!(!authorized(
            &req("/", &[host, c, ("origin", "http://evil.example")]),
            "abc"
        ));
        // the header is enough from anywhere (it is no browser's)
        assert!(authorized(
            &req(
                "/",
                &[
                    ("authorization", "Bearer abc"),
                    ("origin", "http://evil.example")
                ]
            ),
            "abc"
        ));
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
