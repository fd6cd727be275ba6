//! Typed values from JSON, read from bytes only. Each reader `serde_json` offers (from a `str`,
//! from bytes, from a `Value`) is one more copy in the binary of every `Deserialize` it
//! reaches, so the run contract and the webhook payloads are read from bytes everywhere
//! (docs/function.md).

use serde::de::DeserializeOwned;

/// `T` from a `Value` read already, written out again and read from those bytes.
pub(crate) fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> serde_json::Result<T> {
    serde_json::from_slice(&serde_json::to_vec(value)?)
}
