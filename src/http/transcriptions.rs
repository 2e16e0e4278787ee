//! `POST /v1/audio/transcriptions` and `/v1/audio/translations`, multipart exactly as the official
//! SDKs send it (arrays as `key[]`), with `stream=true` answered as server-sent events.

use std::convert::Infallible;
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
use crate::batch::pipeline::Admission;
use crate::batch::request::{TranscriptionParams, TranscriptionRequest, ValidationError};
use crate::batch::service::Job;
use crate::engine::recognizer::Task;

/// Reads the multipart form into the request's fields and the uploaded bytes (empty when no file
/// was sent: validation refuses that).
async fn read_form(
    st: &Shared,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<(TranscriptionParams, Bytes), ApiError> {
    let mut mp = mp.map_err(ApiError::not_multipart)?;
    let mut form = TranscriptionParams::default();
    let mut file = Bytes::new();
    let limit = st.cfg.batch.max_upload_bytes;
    while let Some(field) = mp.next_field().await.map_err(|e| ApiError::multipart(e, limit, None))? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::multipart(e, limit, Some(&name)))?;
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        match name.as_str() {
            "file" => {
                if data.len() > limit {
                    return Err(ApiError::upload_too_large(limit));
                }
                form.file = Some(filename.unwrap_or_else(|| "audio".into()));
                file = data.clone();
            }
            "model" => form.model = Some(text()),
            "language" => form.language = Some(text()).filter(|s| !s.is_empty()),
            "prompt" => form.prompt = Some(text()),
            "response_format" => form.response_format = Some(text()),
            "temperature" => form.temperature = Some(text()),
            "timestamp_granularities[]" | "timestamp_granularities" => form.timestamp_granularities.push(text()),
            "stream" => form.stream = matches!(text().as_str(), "true" | "True" | "1"),
            "quality" => form.quality = Some(text()),
            "include[]" | "include" => form.include.push(text()),
            "keywords[]" | "keywords" => form.keywords.push(text()),
            "languages[]" | "languages" => form.languages.push(text()),
            "glossary" => form.glossary = Some(text()),
            "glossary_id" => form.glossary_id = Some(text()),
            "review" => form.review = Some(text()),
            "glossary_prompt" => form.glossary_prompt = Some(text()),
            "known_speaker_names[]" | "known_speaker_names" => form.known_speaker_names.push(text()),
            "known_speaker_references[]" | "known_speaker_references" => {
                // a data: URL as OpenAI takes it, or an uploaded file
                let clip = match filename {
                    Some(_) => data.to_vec(),
                    None => super::meetings::data_url(&text()).map(|(_, b)| b).ok_or_else(|| {
                        ApiError::invalid(
                            "'known_speaker_references[]' must be a base64 data: URL of audio (data:audio/wav;base64,…) or an audio file",
                            Some("known_speaker_references"),
                            Some("invalid_value"),
                        )
                    })?,
                };
                form.known_speaker_references.push(clip);
            }
            _ => {} // chunking_strategy …: accepted and ignored
        }
    }
    Ok((form, file))
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid(e.to_string(), Some(e.param()), Some(e.code()))
    }
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
    let (form, bytes) = read_form(&st, mp).await?;
    let req = TranscriptionRequest::validate(form, task)?;
    tracing::debug!(
        file = req.file(),
        bytes = bytes.len(),
        model = req.model(),
        "transcription request"
    );

    let max_s = st.cfg.batch.max_audio_s;
    let decoded = tokio::task::spawn_blocking(move || crate::audio::decode_bytes(bytes.to_vec(), max_s))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let job = st
        .batch
        .prepare(&req, decoded.samples.into(), Admission::RefuseWhenBusy)?;
    st.requests.fetch_add(1, Ordering::Relaxed);

    if req.stream() {
        return Ok(stream_response(job));
    }
    let format = req.response_format();
    if job.diarizes() {
        let model = job.engine().name().to_string();
        let timeline = job.run_diarized().await?;
        return Ok(json_response(
            formats::diarized_json(&timeline).to_string(),
            format,
            &model,
        ));
    }
    let t = job.run(|_, _, _| {}).await?;
    let words = req.word_timestamps();
    let task_name = match task {
        Task::Translate => "translate",
        Task::Transcribe => "transcribe",
    };
    let body = match format {
        ResponseFormat::Json if task == Task::Translate => formats::translation_json(&t).to_string(),
        ResponseFormat::Json => formats::json_body(&t).to_string(),
        ResponseFormat::VerboseJson => formats::verbose_json(&t, task_name, true, words).to_string(),
        other => formats::plain(&t, other).unwrap_or_default(),
    };
    Ok(json_response(body, format, &t.model))
}

/// The body with its content type and the `x-asr-router-model` header.
fn json_response(body: String, format: ResponseFormat, model: &str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    r.headers_mut().insert(
        "x-asr-router-model",
        HeaderValue::from_str(model).unwrap_or(HeaderValue::from_static("unknown")),
    );
    r
}

/// SSE: a `transcript.text.delta` per decoded window, then `transcript.text.done` and `[DONE]`.
/// `done` has no `usage`: the event's schema allows token usage only, which we do not count.
fn stream_response(job: Job) -> Response {
    let (tx, rx) = mpsc::channel::<Event>(1024);
    tokio::spawn(async move {
        let tx2 = tx.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        let result = job
            .run(|_, _, text| {
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
