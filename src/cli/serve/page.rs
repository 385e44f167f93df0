//! The live view: `GET /` on `swctl serve`'s sockets answers with a page
//! (HTML, one script, one style sheet: compiled into the binary, nothing
//! fetched from elsewhere, no build step) that draws an applied lab as
//! `swctl graph` does and colours it live over the API's own WebSocket on
//! the same address (`lab.graph`, `lab.status`, `lab.watch`, `lab.check`,
//! `lab.apply`). Every other request (a POST, a WebSocket upgrade) goes on
//! to the JSON-RPC service; over TCP the bearer token's rules are in front
//! of both (`auth`).

use jsonrpsee::server::{HttpBody, HttpResponse};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// What the page's own files answer to `GET path`: (status, type, body).
fn asset(path: &str) -> (http::StatusCode, &'static str, &'static str) {
    match path {
        "/" | "/index.html" => (http::StatusCode::OK, "text/html; charset=utf-8", INDEX),
        "/app.js" => (
            http::StatusCode::OK,
            "text/javascript; charset=utf-8",
            SCRIPT,
        ),
        "/style.css" => (http::StatusCode::OK, "text/css; charset=utf-8", STYLE),
        _ => (
            http::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "swctl: no such page (the live view is at /)\n",
        ),
    }
}

/// A plain GET (not a WebSocket upgrade, which is the API's).
fn is_page<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::GET && !req.headers().contains_key(http::header::UPGRADE)
}

/// The page's answer to `req`.
fn answer<B>(req: &http::Request<B>) -> Result<HttpResponse, http::Error> {
    let (status, kind, body) = asset(req.uri().path());
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, kind)
        // a new swctl serves a new page
        .header(http::header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        // only swctl's own script, styles and WebSocket: no inline script
        .header(
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        )
        .body(HttpBody::from(body))
}

/// The page, in front of the JSON-RPC service: a plain GET is its.
#[derive(Clone)]
pub(super) struct Page;

impl super::front::Answer for Page {
    fn answer<B>(&self, req: &http::Request<B>) -> Option<Result<HttpResponse, http::Error>> {
        is_page(req).then(|| answer(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_and_nothing_else() {
        assert_eq!(asset("/").0, http::StatusCode::OK);
        assert_eq!(asset("/app.js").1, "text/javascript; charset=utf-8");
        assert_eq!(asset("/style.css").1, "text/css; charset=utf-8");
        assert_eq!(asset("/etc/passwd").0, http::StatusCode::NOT_FOUND);
        // the page loads only what swctl serves
        assert!(INDEX.contains(r#"src="app.js""#) && INDEX.contains(r#"href="style.css""#));
        for text in [INDEX, SCRIPT, STYLE] {
            assert!(
                !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn")
            );
        }
        let get = |up: bool| {
            let mut b = http::Request::builder().method("GET").uri("/");
            if up {
                b = b.header("upgrade", "websocket");
            }
            b.body(()).unwrap()
        };
        assert!(is_page(&get(false)));
        assert!(!is_page(&get(true)), "a WebSocket upgrade is the API's");
        let post = http::Request::builder().method("POST").body(()).unwrap();
        assert!(!is_page(&post));
    }
}
