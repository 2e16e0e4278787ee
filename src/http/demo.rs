//! The demo pages, embedded in the binary: live captions at `/demo/`, meeting transcripts at
//! `/demo/meeting` (both open: the pages hold no secret; every API call they make carries the key
//! their user types).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../../web-demo/index.html");
const APP: &str = include_str!("../../web-demo/app.js");
const WORKLET: &str = include_str!("../../web-demo/pcm-worklet.js");
const STYLE: &str = include_str!("../../web-demo/style.css");
const MEETING: &str = include_str!("../../web-demo/meeting.html");
const MEETING_JS: &str = include_str!("../../web-demo/meeting.js");
const MEETING_CSS: &str = include_str!("../../web-demo/meeting.css");

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

/// `/demo/meeting`.
pub async fn meeting() -> Response {
    asset(MEETING, "text/html; charset=utf-8")
}

/// `/demo/meeting.js`.
pub async fn meeting_js() -> Response {
    asset(MEETING_JS, "text/javascript; charset=utf-8")
}

/// `/demo/meeting.css`.
pub async fn meeting_css() -> Response {
    asset(MEETING_CSS, "text/css; charset=utf-8")
}
