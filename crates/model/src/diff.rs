//! A readable word-level diff of two texts (two versions of a note body), with the
//! [`similar`] crate.

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

/// A run of text in a diff. Joining the `Same` and `Added` runs in order gives the new text;
/// joining the `Same` and `Removed` runs gives the old one. Whitespace is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "text", rename_all = "snake_case")]
pub enum DiffSpan {
    Same(String),
    Added(String),
    Removed(String),
}

impl DiffSpan {
    /// The span's text.
    pub fn text(&self) -> &str {
        match self {
            DiffSpan::Same(s) | DiffSpan::Added(s) | DiffSpan::Removed(s) => s,
        }
    }
}

/// The word-level difference from `old` to `new`: runs of unchanged, added and removed text,
/// adjacent runs of one kind joined. Words and the whitespace between them are the units, so a
/// changed word shows as that word removed and its replacement added.
pub fn text_diff(old: &str, new: &str) -> Vec<DiffSpan> {
    let diff = TextDiff::from_words(old, new);
    let mut out: Vec<DiffSpan> = Vec::new();
    for change in diff.iter_all_changes() {
        let text = change.value();
        match (out.last_mut(), change.tag()) {
            (Some(DiffSpan::Same(s)), ChangeTag::Equal)
            | (Some(DiffSpan::Added(s)), ChangeTag::Insert)
            | (Some(DiffSpan::Removed(s)), ChangeTag::Delete) => s.push_str(text),
            (_, ChangeTag::Equal) => out.push(DiffSpan::Same(text.to_owned())),
            (_, ChangeTag::Insert) => out.push(DiffSpan::Added(text.to_owned())),
            (_, ChangeTag::Delete) => out.push(DiffSpan::Removed(text.to_owned())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn join(spans: &[DiffSpan], keep: impl Fn(&DiffSpan) -> bool) -> String {
        spans
            .iter()
            .filter(|s| keep(s))
            .map(DiffSpan::text)
            .collect()
    }

    #[test]
    fn a_changed_word_is_removed_and_added() {
        let spans = text_diff("Sam was happy today.", "Sam was sad today.");
        assert_eq!(
            spans,
            [
                DiffSpan::Same("Sam was ".into()),
                DiffSpan::Removed("happy".into()),
                DiffSpan::Added("sad".into()),
                DiffSpan::Same(" today.".into()),
            ]
        );
    }

    #[test]
    fn identical_and_empty_texts() {
        assert_eq!(text_diff("a b", "a b"), [DiffSpan::Same("a b".into())]);
        assert!(text_diff("", "").is_empty());
        assert_eq!(text_diff("", "new"), [DiffSpan::Added("new".into())]);
        assert_eq!(text_diff("old", ""), [DiffSpan::Removed("old".into())]);
    }

    proptest! {
        /// Same+Added reproduces the new text and Same+Removed the old one, exactly
        /// (whitespace, newlines and non-ASCII included).
        #[test]
        fn the_diff_reproduces_both_texts(
            old in "[a-cé \n\t.]{0,60}",
            new in "[a-cé \n\t.]{0,60}",
        ) {
            let spans = text_diff(&old, &new);
            prop_assert_eq!(join(&spans, |s| !matches!(s, DiffSpan::Removed(_))), new);
            prop_assert_eq!(join(&spans, |s| !matches!(s, DiffSpan::Added(_))), old);
        }

        /// Arbitrary text, including any Unicode.
        #[test]
        fn the_diff_reproduces_any_text(old in any::<String>(), new in any::<String>()) {
            let spans = text_diff(&old, &new);
            prop_assert_eq!(join(&spans, |s| !matches!(s, DiffSpan::Removed(_))), new);
            prop_assert_eq!(join(&spans, |s| !matches!(s, DiffSpan::Added(_))), old);
        }
    }
}
