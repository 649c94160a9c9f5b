//! The pages' static assets: the stylesheet, the accent colour, the theme's
//! images.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::theme::Pages;
use crate::extract::AppState;

/// `/assets/latchkey.css`: the stylesheet, the theme's if it has one (the
/// API reference at `/docs` uses it too).
pub async fn stylesheet(Extension(pages): Extension<Arc<Pages>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        pages.stylesheet().to_owned(),
    )
        .into_response()
}

/// `/assets/theme/<name>`: an image from the theme directory.
pub async fn theme_asset(
    Extension(pages): Extension<Arc<Pages>>,
    Path(name): Path<String>,
) -> Response {
    match pages.asset(&name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            asset.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/assets/theme.css`: the configured accent colour (a stylesheet, since
/// the CSP allows no inline style).
pub async fn accent(State(app): State<AppState>) -> Response {
    let accent = &app.config().ui.accent_color;
    let css = if accent.is_empty() {
        String::new()
    } else {
        // Validated at start-up as #rgb or #rrggbb.
        format!(
            ":root {{ --accent: {accent}; }}\n@media (prefers-color-scheme: dark) {{ :root {{ --accent: {accent}; }} }}\n"
        )
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        css,
    )
        .into_response()
}
