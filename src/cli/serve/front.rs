//! A front of the JSON-RPC service: something that answers some HTTP
//! requests itself and passes the others on (the bearer token's check,
//! `auth`; the live view's page, `page`). One tower service for both, so
//! each says only which requests are its own and what it answers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use jsonrpsee::server::HttpResponse;

/// What answers a request in front of the API, or lets it through (None).
pub(super) trait Answer: Clone {
    fn answer<B>(&self, req: &http::Request<B>) -> Option<Result<HttpResponse, http::Error>>;
}

/// `inner` with `A` in front of it.
#[derive(Clone)]
pub(super) struct Front<S, A> {
    inner: S,
    front: A,
}

impl<S, A> Front<S, A> {
    pub(super) fn new(inner: S, front: A) -> Front<S, A> {
        Front { inner, front }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<S, A, B> tower::Service<http::Request<B>> for Front<S, A>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
    A: Answer,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match self.front.answer(&req) {
            None => Box::pin(self.inner.call(req)),
            Some(res) => Box::pin(async move { res.map_err(|e| e.into()) }),
        }
    }
}
