//! The live-captions page, embedded in the binary and served at `/demo/`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../../web-demo/index.html");
const APP: &str = include_str!("../../web-demo/app.js");
const WORKLET: &str = include_str!("../../web-demo/pcm-worklet.js");
const STYLE: &str = include_str!("../../web-demo/style.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `/demo` → `/demo/`.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/demo/")
}

/// `/demo/`.
pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

/// `/demo/app.js`.
pub async fn app() -> Response {
    asset(APP, "text/javascript; charset=utf-8")
}

/// `/demo/pcm-worklet.js`.
pub async fn worklet() -> Response {
    asset(WORKLET, "text/javascript; charset=utf-8")
}

/// `/demo/style.css`.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
