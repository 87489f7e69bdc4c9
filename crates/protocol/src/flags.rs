//! The query types as command-line flags (feature `clap`): parsers that check a flag's text
//! against the vocabulary and keep it as the text the server reads.

use clap::builder::PossibleValuesParser;

use crate::review::ReviewQuery;
use crate::{DocKind, ItemKind, ReviewStatus, UnknownValue};

/// `--kind`: a document kind.
pub(crate) fn doc_kind(s: &str) -> Result<String, UnknownValue> {
    s.parse::<DocKind>().map(|k| k.as_str().to_owned())
}

/// `--item`: a review item kind.
pub(crate) fn item_kind(s: &str) -> Result<String, String> {
    match ItemKind::parse(s) {
        Some(kind) => Ok(kind.as_str().to_owned()),
        None => {
            let kinds: Vec<_> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
            Err(format!(
                "{s:?} is not an item kind: use one of {}",
                kinds.join(", ")
            ))
        }
    }
}

/// `--status`: each review status, or all of them (clap lists them in `--help`).
pub(crate) fn review_status() -> PossibleValuesParser {
    let names = ReviewStatus::ALL.iter().map(|s| s.as_str());
    PossibleValuesParser::new(names.chain([ReviewQuery::ALL_STATUSES]))
}
