//! OpenAI-shaped errors: `{"error":{"message","type","param","code"}}` with the right status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// OpenAI error type (`invalid_request_error`, `authentication_error`, `server_error`, …).
    pub kind: &'static str,
    /// The request field at fault, if any.
    pub param: Option<String>,
    /// Machine-readable code, if any.
    pub code: Option<&'static str>,
    /// Seconds for `Retry-After` (503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>, param: Option<&str>, code: Option<&'static str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(Into::into),
            code,
            retry_after: None,
        }
    }

    /// 401 for a missing or wrong key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("invalid_api_key"),
            retry_after: None,
        }
    }

    /// 404 for an unknown route or object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_found"),
            retry_after: None,
        }
    }

    /// 413 for an upload over the limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some("file".into()),
            code: Some("file_too_large"),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After` when a queue is full or capacity is reached.
    pub fn busy(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("server_overloaded"),
            retry_after: Some(1),
        }
    }

    /// 503 while the server shuts down (no `Retry-After`: this instance is going away).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("server_shutting_down"),
            retry_after: None,
        }
    }

    /// 500 for a failure on our side.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl ApiError {
    /// 413 for a multipart upload past `limit` bytes.
    pub fn upload_too_large(limit: impl std::fmt::Display) -> Self {
        Self::too_large(format!("Maximum content size limit ({limit} bytes) exceeded."))
    }

    /// 400 for a body that is not `multipart/form-data`.
    pub fn not_multipart(e: axum::extract::multipart::MultipartRejection) -> Self {
        Self::invalid(
            format!("Expected a multipart/form-data body: {e}"),
            None,
            Some("invalid_request"),
        )
    }

    /// A multipart body that failed while being read: 413 when it ran past `limit` bytes, else
    /// 400 naming the field being read (`param`).
    pub fn multipart(
        e: axum::extract::multipart::MultipartError,
        limit: impl std::fmt::Display,
        param: Option<&str>,
    ) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::upload_too_large(limit)
        } else {
            Self::invalid(
                format!("Malformed multipart body: {}", e.body_text()),
                param,
                Some("invalid_request"),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

impl From<crate::audio::AudioError> for ApiError {
    fn from(e: crate::audio::AudioError) -> Self {
        use crate::audio::AudioError as A;
        match &e {
            A::TooLong { .. } => ApiError::invalid(e.to_string(), Some("file"), Some("audio_too_long")),
            A::Empty => ApiError::invalid("The audio file is empty.", Some("file"), Some("empty_file")),
            A::TooShort { min_s, .. } => ApiError::invalid(
                format!("Audio file is too short. Minimum audio length is {min_s} seconds."),
                Some("file"),
                Some("audio_too_short"),
            ),
            A::Resample(_) => ApiError::internal(e.to_string()),
            _ => ApiError::invalid(
                format!("Audio file might be corrupted or unsupported: {e}"),
                Some("file"),
                Some("invalid_value"),
            ),
        }
    }
}

impl From<crate::engine::scheduler::SchedError> for ApiError {
    fn from(e: crate::engine::scheduler::SchedError) -> Self {
        use crate::engine::scheduler::SchedError as S;
        match e {
            S::Busy { .. } | S::Closed(_) => ApiError::busy(format!("The server is at capacity ({e}); retry shortly.")),
            S::Stale => ApiError::internal("request superseded"),
            S::Engine(crate::engine::recognizer::EngineError::InvalidInput(m)) => ApiError::invalid(m, None, None),
            // an upstream server that is down, slow or behind an open breaker, with no fallback
            S::Engine(crate::engine::recognizer::EngineError::Unavailable(m)) => ApiError {
                code: Some("engine_unavailable"),
                retry_after: Some(5),
                ..ApiError::busy(format!("The engine is unavailable ({m}); retry shortly."))
            },
            S::Engine(err) => ApiError::internal(format!("transcription failed: {err}")),
        }
    }
}

impl From<crate::batch::service::BatchError> for ApiError {
    fn from(e: crate::batch::service::BatchError) -> Self {
        use crate::batch::service::BatchError as B;
        let message = e.to_string();
        match e {
            B::Route(r) => r.into(),
            B::Plan(p) => p.into(),
            B::Engine(s) => s.into(),
            // 400, not 503: retrying cannot help until an operator installs the model
            B::NoSpeakerModel => ApiError::invalid(
                message,
                Some("response_format"),
                Some(crate::meeting::diarize::SPEAKER_MODEL_MISSING),
            ),
            B::Reference(_) => ApiError::invalid(message, Some("known_speaker_references"), Some("invalid_value")),
            B::Diarize(_) => ApiError::internal(message),
        }
    }
}

impl From<crate::finalize::PlanError> for ApiError {
    /// 400 naming `glossary_id` (unknown, invalid, no folder) or `review` (no LLM reviewer).
    fn from(e: crate::finalize::PlanError) -> Self {
        ApiError::invalid(e.to_string(), Some(e.param()), Some("invalid_value"))
    }
}

impl From<crate::routing::RouteError> for ApiError {
    /// 400 with the field at fault: `model` (`model_not_found`: no such model, or one that cannot
    /// translate) or `language` (`unsupported_language`).
    fn from(e: crate::routing::RouteError) -> Self {
        use crate::routing::RouteError as R;
        let code = match &e {
            R::UnknownModel { .. } | R::CannotTranslate { .. } => "model_not_found",
            R::UnsupportedLanguage { .. } => "unsupported_language",
        };
        ApiError::invalid(e.to_string(), Some(e.param()), Some(code))
    }
}
