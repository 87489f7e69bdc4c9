//! Binary payloads carried as base64 text inside JSON.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The binary encoding of one automerge change, carried as standard base64 on the wire.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ChangeBytes(pub Vec<u8>);

impl ChangeBytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for ChangeBytes {
    fn from(bytes: Vec<u8>) -> Self {
        ChangeBytes(bytes)
    }
}

impl fmt::Debug for ChangeBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChangeBytes({} bytes)", self.0.len())
    }
}

impl Serialize for ChangeBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for ChangeBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ChangeBytes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string holding an automerge change")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ChangeBytes, E> {
                STANDARD
                    .decode(v)
                    .map(ChangeBytes)
                    .map_err(|e| E::custom(format!("change is not valid base64: {e}")))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}
