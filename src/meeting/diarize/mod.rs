//! Speaker diarization: who spoke when, from per-segment speaker embeddings.
