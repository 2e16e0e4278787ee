//! `/v1/meetings`: meeting jobs over HTTP (see [`crate::meeting`]).
//!
//! - `POST /v1/meetings` (multipart: `file`, `language`, `languages[]`, `model`, `glossary`,
//!   `glossary_id`, `keywords[]`, `review`, `speakers`, `min_speakers`, `max_speakers`,
//!   `known_speaker_names[]` + `known_speaker_references[]` (files, or `data:` URLs as OpenAI's
//!   diarizing transcription takes them)) → `202` with the job.
//! - `GET /v1/meetings` (`after`, `limit`) → a page of jobs, newest first.
//! - `GET /v1/meetings/{id}` → the job: status, stage, progress, timings, error, outputs.
//! - `GET /v1/meetings/{id}/outputs/{name}` → one of the five outputs of a completed job.
//! - `DELETE /v1/meetings/{id}` → cancels the job and deletes its files.
//!
//! Uploads stream to the job's folder (never whole in memory), bounded by
//! `[meeting] max_upload_bytes`; admission (queue bound, disk quota) is checked before the body
//! is read. A request refused after its files were written leaves nothing behind.

use std::path::Path;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{ApiError, Shared};
use crate::config::ReviewMode;
use crate::meeting::outputs::content_type;
use crate::meeting::params::{KnownSpeaker, MeetingParams};
use crate::meeting::service::{MeetingError, MeetingService};

impl From<MeetingError> for ApiError {
    fn from(e: MeetingError) -> Self {
        let msg = e.to_string();
        match e {
            MeetingError::NotFound(_) | MeetingError::UnknownOutput(_) => ApiError::not_found(msg),
            MeetingError::Param(p) => ApiError::invalid(msg, Some(p.param), Some("invalid_value")),
            MeetingError::Plan(p) => ApiError::invalid(msg, Some(p.param()), Some("invalid_value")),
            MeetingError::NotReady { .. } => ApiError {
                status: StatusCode::CONFLICT,
                code: Some("meeting_not_completed"),
                ..ApiError::invalid(msg, None, None)
            },
            MeetingError::QueueFull { .. } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: Some("queue_full"),
                retry_after: Some(30),
                ..ApiError::busy(msg)
            },
            MeetingError::Quota { .. } => ApiError {
                status: StatusCode::INSUFFICIENT_STORAGE,
                code: Some("storage_quota_exceeded"),
                ..ApiError::internal(msg)
            },
            MeetingError::Store(_) | MeetingError::Io(_) => {
                tracing::error!(error = %msg, "meeting job store");
                ApiError::internal(msg)
            }
        }
    }
}

fn service(st: &Shared) -> Result<&MeetingService, ApiError> {
    st.meetings
        .as_deref()
        .ok_or_else(|| ApiError::not_found("Meeting jobs are disabled on this server ([meeting] enabled = false)."))
}

/// `POST /v1/meetings`.
pub async fn create(State(st): State<Shared>, mp: Result<Multipart, MultipartRejection>) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    if st.shutdown.is_cancelled() {
        return Err(ApiError::unavailable("The server is shutting down."));
    }
    svc.admit().await?;
    let (id, dir) = svc.new_dir().await?;
    match read_form(&st, mp, &dir).await {
        Ok(params) => {
            let job = svc.submit(&id, params).await?;
            let mut r = (StatusCode::ACCEPTED, axum::Json(svc.describe(&job))).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/meetings/{id}")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Err(e) => {
            svc.discard(&id).await;
            Err(e)
        }
    }
}

/// Streams the multipart form into `dir`: the recording as `input.<ext>`, reference clips as
/// `ref<i>.<ext>`; the other fields into the parameters.
async fn read_form(
    st: &Shared,
    mp: Result<Multipart, MultipartRejection>,
    dir: &Path,
) -> Result<MeetingParams, ApiError> {
    let mut mp = mp.map_err(ApiError::not_multipart)?;
    let limit = st.cfg.meeting.max_upload_bytes;
    let mut written: u64 = 0;
    let mut p = MeetingParams::default();
    let mut names: Vec<String> = Vec::new();
    let mut refs: Vec<String> = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(|e| ApiError::multipart(e, limit, None))? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let is_ref = matches!(name.as_str(), "known_speaker_references[]" | "known_speaker_references");
        if name == "file" || (is_ref && filename.is_some()) {
            let target = if name == "file" {
                if !p.input.is_empty() {
                    return Err(ApiError::invalid("Only one 'file' may be sent.", Some("file"), None));
                }
                format!("input{}", extension(filename.as_deref()))
            } else {
                format!("ref{}{}", refs.len(), extension(filename.as_deref()))
            };
            let path = dir.join(&target);
            let mut f = tokio::fs::File::create(&path)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| ApiError::multipart(e, limit, Some(&name)))?
            {
                written += chunk.len() as u64;
                if written > limit {
                    return Err(ApiError::upload_too_large(limit));
                }
                f.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            f.flush().await.map_err(|e| ApiError::internal(e.to_string()))?;
            if name == "file" {
                p.input = target;
            } else {
                refs.push(target);
            }
            continue;
        }
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::multipart(e, limit, Some(&name)))?;
        written += data.len() as u64;
        if written > limit {
            return Err(ApiError::upload_too_large(limit));
        }
        let text = String::from_utf8_lossy(&data).trim().to_string();
        let count = |param: &'static str| -> Result<Option<usize>, ApiError> {
            if text.is_empty() {
                return Ok(None);
            }
            text.parse().map(Some).map_err(|_| {
                ApiError::invalid(
                    format!("'{param}' must be a whole number, got {text:?}"),
                    Some(param),
                    Some("invalid_value"),
                )
            })
        };
        match name.as_str() {
            "language" => p.language = Some(text).filter(|s| !s.is_empty()),
            "languages[]" | "languages" => p.languages.push(text),
            "model" => p.model = text,
            "keywords[]" | "keywords" => p.keywords.push(text),
            "glossary_id" => p.glossary_id = Some(text).filter(|s| !s.is_empty()),
            "glossary_prompt" => {
                p.glossary_prompt = crate::finalize::bias::parse_switch(&text).map_err(|v| {
                    ApiError::invalid(
                        format!("'glossary_prompt' must be true or false, got {v:?}"),
                        Some("glossary_prompt"),
                        Some("invalid_value"),
                    )
                })?
            }
            "glossary" => {
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    ApiError::invalid(
                        format!("'glossary' is not JSON: {e}"),
                        Some("glossary"),
                        Some("invalid_value"),
                    )
                })?;
                crate::review::Glossary::from_json_str(&text).map_err(|e| {
                    ApiError::invalid(format!("'glossary': {e}"), Some("glossary"), Some("invalid_value"))
                })?;
                p.glossary = Some(v);
            }
            "review" => {
                p.review = Some(match text.as_str() {
                    "none" => ReviewMode::None,
                    "glossary" => ReviewMode::Glossary,
                    "llm" => ReviewMode::Llm,
                    other => {
                        return Err(ApiError::invalid(
                            format!("'review' must be one of none, glossary, llm; got {other:?}"),
                            Some("review"),
                            Some("invalid_value"),
                        ));
                    }
                })
            }
            "speakers" => p.speakers = count("speakers")?,
            "min_speakers" => p.min_speakers = count("min_speakers")?,
            "max_speakers" => p.max_speakers = count("max_speakers")?,
            "known_speaker_names[]" | "known_speaker_names" => names.push(text),
            _ if is_ref => {
                let (ext, bytes) = data_url(&text).ok_or_else(|| {
                    ApiError::invalid(
                        "'known_speaker_references[]' must be an audio file or a base64 data: URL",
                        Some("known_speaker_references"),
                        Some("invalid_value"),
                    )
                })?;
                let target = format!("ref{}{ext}", refs.len());
                tokio::fs::write(dir.join(&target), bytes)
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                refs.push(target);
            }
            _ => {} // unknown fields are ignored, as OpenAI's multipart endpoints do
        }
    }
    if names.len() != refs.len() {
        return Err(ApiError::invalid(
            format!(
                "{} known_speaker_names[] but {} known_speaker_references[]: give one clip per name",
                names.len(),
                refs.len()
            ),
            Some("known_speaker_references"),
            Some("invalid_value"),
        ));
    }
    p.known_speakers = names
        .into_iter()
        .zip(refs)
        .map(|(name, reference)| KnownSpeaker { name, reference })
        .collect();
    Ok(p)
}

/// A file name's extension, kept for the decoder's format hint (letters and digits only).
fn extension(filename: Option<&str>) -> String {
    filename
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_default()
}

/// `data:audio/wav;base64,…` → (extension, bytes). Also read by `transcriptions.rs`
/// (`known_speaker_references[]` of `diarized_json`).
pub(super) fn data_url(s: &str) -> Option<(String, Vec<u8>)> {
    let rest = s.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    let ext = mime.strip_prefix("audio/").map(|t| match t {
        "mpeg" => ".mp3".to_string(),
        "x-wav" | "wave" => ".wav".to_string(),
        t => extension(Some(&format!("x.{t}"))),
    })?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(payload.trim()).ok()?;
    Some((ext, bytes))
}

/// `GET /v1/meetings/{id}`.
pub async fn get(State(st): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let job = svc.get(&id).await?;
    Ok(axum::Json(svc.describe(&job)).into_response())
}

/// `GET /v1/meetings` query.
#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/meetings`.
pub async fn list(
    State(st): State<Shared>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text(), None, Some("invalid_value")))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            format!("'limit' must be between 1 and 100, got {limit}"),
            Some("limit"),
            Some("invalid_value"),
        ));
    }
    let page = svc.list(q.after.as_deref(), limit + 1).await?;
    let has_more = page.len() > limit;
    let shown = &page[..limit.min(page.len())];
    let data: Vec<serde_json::Value> = shown.iter().map(|j| svc.describe(j)).collect();
    let last = shown.last().map(|j| j.id.clone());
    Ok(axum::Json(serde_json::json!({
        "object": "list",
        "data": data,
        "first_id": page.first().map(|j| j.id.clone()),
        "last_id": last,
        "has_more": has_more,
    }))
    .into_response())
}

/// `DELETE /v1/meetings/{id}`.
pub async fn delete(State(st): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    svc.delete(&id).await?;
    Ok(axum::Json(serde_json::json!({"id": id, "object": "meeting.deleted", "deleted": true})).into_response())
}

/// `GET /v1/meetings/{id}/outputs/{name}`.
pub async fn output(
    State(st): State<Shared>,
    UrlPath((id, name)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let path = svc.output(&id, &name).await?;
    // Outputs are text of at most a few megabytes.
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::internal(format!("reading {name}: {e}")))?;
    let mut r = Body::from(bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&name)));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_clips_come_as_data_urls_and_extensions_are_sanitized() {
        let (ext, bytes) = data_url("data:audio/wav;base64,UklGRg==").unwrap();
        assert_eq!((ext.as_str(), bytes.as_slice()), (".wav", &b"RIFF"[..]));
        assert_eq!(data_url("data:audio/mpeg;base64,AA==").unwrap().0, ".mp3");
        assert!(data_url("data:text/plain;base64,AA==").is_none());
        assert!(data_url("data:audio/wav,raw").is_none());
        assert!(data_url("https://example.invalid/a.wav").is_none());
        assert_eq!(extension(Some("Meeting.M4A")), ".m4a");
        assert_eq!(extension(Some("../../etc/passwd")), "");
        assert_eq!(extension(Some("a.w/v")), "");
        assert_eq!(extension(None), "");
    }
}
