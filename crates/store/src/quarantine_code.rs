//! Why input was kept in quarantine, as one typed value stored as text.

use std::fmt;
use std::str::FromStr;

use fieldnotes_vocab::{ErrorCode, RejectCode, UnknownValue};

/// The code a quarantine entry is kept under: a pushed document the merge refused (a
/// [`RejectCode`]), or a request that could not be read at all (an [`ErrorCode`], such as
/// `malformed_request`). Stored as the code's text; text that is neither is an
/// [`UnknownValue`] naming it. A text that is both reads as the reject code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuarantineCode {
    Rejected(RejectCode),
    Unreadable(ErrorCode),
}

impl QuarantineCode {
    /// The code as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineCode::Rejected(code) => code.as_str(),
            QuarantineCode::Unreadable(code) => code.as_str(),
        }
    }
}

impl From<RejectCode> for QuarantineCode {
    fn from(code: RejectCode) -> Self {
        QuarantineCode::Rejected(code)
    }
}

impl From<ErrorCode> for QuarantineCode {
    fn from(code: ErrorCode) -> Self {
        QuarantineCode::Unreadable(code)
    }
}

impl fmt::Display for QuarantineCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QuarantineCode {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        if let Some(code) = RejectCode::parse(s) {
            return Ok(QuarantineCode::Rejected(code));
        }
        s.parse::<ErrorCode>()
            .map(QuarantineCode::Unreadable)
            .map_err(|e| UnknownValue {
                what: "quarantine code (a reject code or an error code)",
                ..e
            })
    }
}

fieldnotes_vocab::stored_as_text!(QuarantineCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_written_and_unknown_text_is_named() {
        for code in [
            QuarantineCode::Rejected(RejectCode::MalformedChange),
            QuarantineCode::Rejected(RejectCode::OutOfScope),
            QuarantineCode::Unreadable(ErrorCode::MalformedRequest),
        ] {
            assert_eq!(code.as_str().parse::<QuarantineCode>(), Ok(code));
        }
        let Err(e) = "made_up".parse::<QuarantineCode>() else {
            panic!("made_up read as a code");
        };
        assert_eq!(e.value, "made_up");
        assert!(e.to_string().contains("quarantine code"), "{e}");
    }
}
