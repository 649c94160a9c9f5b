//! Cross-cutting layers: a request id and a log line per request, HTTP
//! metrics, and the headers every response carries.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives each request an id (ours, never the client's), logs it with the
/// method, path (never the query, which may hold a token), status and
/// latency, and counts it by route.
/// The request id of the current request, for code that records events.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn observe(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %req.uri().path());
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "served"
        );
    });
    metrics::counter!("latchkey_http_requests_total",
        "route" => route.clone(), "method" => method.to_string(), "status" => status.to_string())
    .increment(1);
    metrics::histogram!("latchkey_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    response
}

/// The Content-Security-Policy of the hosted pages: nothing but our own
/// stylesheet and images, plus a configured https logo's origin; forms post
/// to us, and (for the redirect after sign-in) to the `return_to` origins.
pub fn page_csp(ui: &latchkey_service::config::UiConfig) -> HeaderValue {
    let logo = url::Url::parse(&ui.logo_url)
        .ok()
        .filter(|u| u.scheme() == "https")
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    let forms: String = ui
        .return_to_origins
        .iter()
        .map(|o| format!(" {}", o.trim_end_matches('/')))
        .collect();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'{logo}; form-action 'self'{forms}; \
         base-uri 'none'; frame-ancestors 'none'"
    );
    // Config validation admits only URLs and origins, which are header-safe.
    HeaderValue::from_str(&csp).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
    })
}

/// What [`security_headers`] adds beyond the fixed headers.
#[derive(Debug, Clone)]
pub struct Headers {
    /// The hosted pages' Content-Security-Policy ([`page_csp`]).
    pub page_csp: HeaderValue,
    /// Whether the public URL is https: then browsers are told to use
    /// nothing else (HSTS).
    pub https: bool,
}

impl Headers {
    pub fn new(config: &latchkey_service::config::Config) -> Self {
        Self {
            page_csp: page_csp(&config.ui),
            https: config.is_https(),
        }
    }
}

/// Headers for every response: no sniffing, no referrer, no framing, no
/// caching of anything that did not opt in, and on https HSTS.
pub async fn security_headers(
    axum::extract::State(headers): axum::extract::State<Headers>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let csp = if is_html {
        headers.page_csp
    } else {
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
    };
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if headers.https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
