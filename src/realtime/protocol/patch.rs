//! [`Patch<T>`]: the tri-state value of one field of a session update.
//!
//! OpenAI's session updates are PATCHes: a field the client leaves out keeps its current value, a
//! field sent as `null` is cleared or reset to its default (`turn_detection: null` selects manual
//! commit, `format: null` goes back to PCM16 at 24 kHz), and a field with a value sets it.
//! `Option<T>` cannot tell "absent" from `null`, so every updatable field is a `Patch<T>`.
//!
//! Invariants: with `#[serde(default)]`, a missing field deserializes to [`Patch::Absent`] and
//! `null` to [`Patch::Null`]; with `skip_serializing_if = "Patch::is_absent"`, serializing omits
//! `Absent` and writes `Null` as `null`. A patch therefore survives a JSON round trip.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tri-state field of a session update: absent (leave unchanged), explicit `null`
/// (clear / reset to default) or a new value.
///
/// With serde, use `#[serde(default, skip_serializing_if = "Patch::is_absent")]`:
/// a missing field deserializes to [`Patch::Absent`], `null` to [`Patch::Null`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    /// The field was not present: keep the current value.
    #[default]
    Absent,
    /// The field was `null`: clear it (or reset it to its default).
    Null,
    /// The field was set.
    Value(T),
}

impl<T> Patch<T> {
    /// True for [`Patch::Absent`].
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// True for [`Patch::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Patch::Null)
    }

    /// The value, if one was set.
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Borrows the contents.
    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(v),
        }
    }

    /// Maps the value, keeping absent/null.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }

    /// `Some(v)` → `Value(v)`, `None` → `Null`: how a present field deserializes (see the
    /// `Deserialize` impl below); the tests also build updates that always set a field with it.
    pub(super) fn from_option(v: Option<T>) -> Self {
        v.map_or(Patch::Null, Patch::Value)
    }

    /// Applies the patch to an optional field: absent keeps, null clears, value sets.
    pub fn apply_to(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Value(v) => *target = Some(v),
        }
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Absent | Patch::Null => s.serialize_none(),
            Patch::Value(v) => v.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Patch::from_option(Option::<T>::deserialize(d)?))
    }
}

impl<T> Patch<Option<T>> {
    /// Like [`Patch::apply_to`] for a value that is itself optional: `Value(None)` clears
    /// (used where an empty string means "unset").
    pub(super) fn apply_to_flat(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Value(v) => *target = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_serde_tri_state() {
        #[derive(Deserialize, Serialize, PartialEq, Debug)]
        struct S {
            #[serde(default, skip_serializing_if = "Patch::is_absent")]
            x: Patch<u32>,
        }
        let absent: S = serde_json::from_str("{}").unwrap();
        assert!(absent.x.is_absent());
        let null: S = serde_json::from_str(r#"{"x":null}"#).unwrap();
        assert!(null.x.is_null());
        let val: S = serde_json::from_str(r#"{"x":3}"#).unwrap();
        assert_eq!(val.x, Patch::Value(3));
        assert_eq!(serde_json::to_string(&absent).unwrap(), "{}");
        assert_eq!(serde_json::to_string(&null).unwrap(), r#"{"x":null}"#);
        assert_eq!(serde_json::to_string(&val).unwrap(), r#"{"x":3}"#);
        let mut target = Some(1);
        Patch::Absent.apply_to(&mut target);
        assert_eq!(target, Some(1));
        Patch::Value(2).apply_to(&mut target);
        assert_eq!(target, Some(2));
        Patch::<i32>::Null.apply_to(&mut target);
        assert_eq!(target, None);
    }
}
