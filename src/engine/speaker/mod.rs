//! Speaker embedders: a fixed-size voice vector per stretch of speech.
