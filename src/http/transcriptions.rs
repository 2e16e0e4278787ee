//! `POST /v1/audio/transcriptions` and `/v1/audio/translations`, multipart exactly as the official
//! SDKs send it (arrays as `key[]`), with `stream=true` answered as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::json;
use tokio::sync::mpsc;

use super::{ApiError, Shared};
use crate::batch::formats::{self, ResponseFormat};
use crate::batch::pipeline;
use crate::engine::recognizer::{DecodeOptions, Task};
use crate::routing::{RoutePolicy, RouteRequest};

/// The parsed multipart form.
#[derive(Debug, Default)]
struct Form {
    file: Option<(String, Bytes)>,
    model: Option<String>,
    language: Option<String>,
    prompt: Option<String>,
    response_format: Option<String>,
    temperature: Option<String>,
    granularities: Vec<String>,
    stream: bool,
    quality: Option<String>,
    include: Vec<String>,
}

async fn read_form(st: &Shared, mp: Result<Multipart, MultipartRejection>) -> Result<Form, ApiError> {
    let mut mp = mp.map_err(|e| {
        ApiError::invalid(
            format!("Expected a multipart/form-data body: {e}"),
            None,
            Some("invalid_request"),
        )
    })?;
    let mut form = Form::default();
    let limit = st.cfg.max_upload_bytes;
    let too_big = || ApiError::too_large(format!("Maximum content size limit ({limit} bytes) exceeded."));
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_big());
            }
            Err(e) => {
                return Err(ApiError::invalid(
                    format!("Malformed multipart body: {}", e.body_text()),
                    None,
                    Some("invalid_request"),
                ));
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let data = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_big());
            }
            Err(e) => {
                return Err(ApiError::invalid(
                    format!("Malformed multipart body: {}", e.body_text()),
                    Some(&name),
                    Some("invalid_request"),
                ));
            }
        };
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        match name.as_str() {
            "file" => {
                if data.len() > limit {
                    return Err(too_big());
                }
                form.file = Some((filename.unwrap_or_else(|| "audio".into()), data.clone()));
            }
            "model" => form.model = Some(text()),
            "language" => form.language = Some(text()).filter(|s| !s.is_empty()),
            "prompt" => form.prompt = Some(text()),
            "response_format" => form.response_format = Some(text()),
            "temperature" => form.temperature = Some(text()),
            "timestamp_granularities[]" | "timestamp_granularities" => form.granularities.push(text()),
            "stream" => form.stream = matches!(text().as_str(), "true" | "True" | "1"),
            "quality" => form.quality = Some(text()),
            "include[]" | "include" => form.include.push(text()),
            _ => {} // chunking_strategy, keywords[] …: accepted and ignored
        }
    }
    Ok(form)
}

/// `POST /v1/audio/transcriptions`.
pub async fn transcriptions(State(st): State<Shared>, mp: Result<Multipart, MultipartRejection>) -> Response {
    handle(st, mp, Task::Transcribe)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v1/audio/translations` (to English).
pub async fn translations(State(st): State<Shared>, mp: Result<Multipart, MultipartRejection>) -> Response {
    handle(st, mp, Task::Translate)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(st: Shared, mp: Result<Multipart, MultipartRejection>, task: Task) -> Result<Response, ApiError> {
    let form = read_form(&st, mp).await?;
    let model = form.model.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
        ApiError::invalid(
            "you must provide a model parameter",
            Some("model"),
            Some("missing_required_parameter"),
        )
    })?;
    let (filename, bytes) = form.file.clone().ok_or_else(|| {
        ApiError::invalid(
            "you must provide a file parameter",
            Some("file"),
            Some("missing_required_parameter"),
        )
    })?;
    let format = match form.response_format.as_deref() {
        None | Some("") => ResponseFormat::Json,
        Some(f) => ResponseFormat::parse(f).ok_or_else(|| {
            ApiError::invalid(
                format!(
                    "Invalid value: '{f}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'."
                ),
                Some("response_format"),
                Some("invalid_value"),
            )
        })?,
    };
    let temperature = match form.temperature.as_deref() {
        None | Some("") => 0.0,
        Some(t) => t
            .parse::<f32>()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("Invalid temperature '{t}': expected a number between 0 and 1."),
                    Some("temperature"),
                    Some("invalid_value"),
                )
            })?,
    };
    for g in &form.granularities {
        if g != "word" && g != "segment" {
            return Err(ApiError::invalid(
                format!("Invalid value: '{g}'. Supported values are: 'word' and 'segment'."),
                Some("timestamp_granularities"),
                Some("invalid_value"),
            ));
        }
    }
    // OpenAI's only `include` value is `logprobs`, which no engine here reports: refuse it
    // rather than accept it and never send any.
    if let Some(i) = form.include.first() {
        return Err(ApiError::invalid(
            format!(
                "Invalid value: '{i}'. This server does not return logprobs, so no 'include' values are supported."
            ),
            Some("include"),
            Some("invalid_value"),
        ));
    }
    let words = form.granularities.iter().any(|g| g == "word");
    if !form.granularities.is_empty() && format != ResponseFormat::VerboseJson {
        return Err(ApiError::invalid(
            "timestamp_granularities requires response_format=verbose_json",
            Some("timestamp_granularities"),
            Some("invalid_value"),
        ));
    }
    tracing::debug!(%filename, bytes = bytes.len(), %model, "transcription request");

    let max_s = st.cfg.max_audio_s;
    let decoded = tokio::task::spawn_blocking(move || crate::audio::decode_bytes(bytes.to_vec(), max_s))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let language = match task {
        Task::Translate => None,
        Task::Transcribe => form
            .language
            .clone()
            .or_else(|| st.engines.default_language().map(str::to_string)),
    };
    let policy = RoutePolicy::new(&st.engines, &st.cfg);
    let engine = policy
        .route(&RouteRequest {
            model,
            duration_s: decoded.duration_s(),
            language: language.clone(),
            quality_high: form.quality.as_deref() == Some("high"),
            task,
        })?
        .clone();
    let options = DecodeOptions {
        language,
        prompt: form.prompt.clone(),
        task,
        temperature,
        word_timestamps: words,
        use_itn: true,
        draft: false,
        short_window: false,
    };
    st.requests.fetch_add(1, Ordering::Relaxed);
    let samples: Arc<[f32]> = decoded.samples.into();
    let task_name = if task == Task::Translate {
        "translate"
    } else {
        "transcribe"
    };

    if form.stream {
        return Ok(stream_response(st, engine, samples, options));
    }
    let t = pipeline::transcribe(&st.engines, &engine, samples, options, true, |_, _, _| {}).await?;
    let body = match format {
        ResponseFormat::Json if task == Task::Translate => formats::translation_json(&t).to_string(),
        ResponseFormat::Json => formats::json_body(&t).to_string(),
        ResponseFormat::VerboseJson => formats::verbose_json(&t, task_name, true, words).to_string(),
        other => formats::plain(&t, other).unwrap_or_default(),
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    r.headers_mut().insert(
        "x-asr-router-model",
        HeaderValue::from_str(&t.model).unwrap_or(HeaderValue::from_static("unknown")),
    );
    Ok(r)
}

/// SSE: a `transcript.text.delta` per decoded window, then `transcript.text.done` and `[DONE]`.
/// `done` has no `usage`: the event's schema allows token usage only, which we do not count.
fn stream_response(
    st: Shared,
    engine: crate::engine::scheduler::EngineHandle,
    samples: Arc<[f32]>,
    options: DecodeOptions,
) -> Response {
    let (tx, rx) = mpsc::channel::<Event>(1024);
    tokio::spawn(async move {
        let tx2 = tx.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        let result = pipeline::transcribe(&st.engines, &engine, samples, options, true, |_, _, text| {
            if text.is_empty() {
                return;
            }
            let delta = if first.swap(false, Ordering::Relaxed) {
                text.to_string()
            } else {
                format!(" {text}")
            };
            let ev = Event::default().data(json!({"type": "transcript.text.delta", "delta": delta}).to_string());
            let _ = tx2.try_send(ev);
        })
        .await;
        let last = match result {
            Ok(t) => json!({"type": "transcript.text.done", "text": t.text}),
            Err(e) => ApiError::from(e).body(),
        };
        let _ = tx.send(Event::default().data(last.to_string())).await;
        let _ = tx.send(Event::default().data("[DONE]")).await;
    });
    let s = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|ev| (Ok::<_, Infallible>(ev), rx))
    });
    Sse::new(s).into_response()
}

/// A known route called with a method it does not serve (`GET /v1/audio/transcriptions`): 405
/// with OpenAI's error body instead of an empty one (axum adds the `Allow` header). Installed
/// for every route by `http::router`.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        message: format!("Invalid method for URL ({method} {}).", uri.path()),
        kind: "invalid_request_error",
        param: None,
        code: Some("method_not_allowed"),
        retry_after: None,
    }
}
