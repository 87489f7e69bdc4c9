//! Arguments of the record-lifecycle commands that are not per kind (`delete`, `history`,
//! `diff`) and of the review queue (`review ...`).

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Subcommand};
use fieldnotes_model::DocKind;
use fieldnotes_protocol::ReviewStatus;
use fieldnotes_protocol::review::ItemKind;

use crate::args::{DocArg, Page, RecordArg};

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub record: RecordArg,
    /// Why it is deleted, e.g. "filed on the wrong child" (at least 3 characters); kept with
    /// the record
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub doc: DocArg,
    /// The earlier version: its number in `fieldnotes history ID`, or its change hash (or the
    /// start of it) [default: the version before --to]
    #[arg(long, value_name = "N|HASH")]
    pub from: Option<String>,
    /// The later version: its number in `fieldnotes history ID`, or its change hash (or the
    /// start of it) [default: the latest]
    #[arg(long, value_name = "N|HASH")]
    pub to: Option<String>,
    /// The field to compare, e.g. body, title, wishes_and_feelings, points [default: body;
    /// points for a short plan]
    #[arg(long, value_name = "FIELD")]
    pub field: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCmd {
    /// List review items, oldest first (open ones unless --status says otherwise)
    List(ReviewList),
    /// Show one item: each side numbered, with its value, who wrote it, on which device and
    /// when
    Show(ItemArg),
    /// Settle an item: choose a side's value, write a value, accept an amendment, or restore
    /// the record; the decision is sent at once and reaches every device on its next sync
    Resolve(ReviewResolve),
    /// Dismiss an item: nothing in the record needs changing
    Dismiss(ReviewDismiss),
}

/// An item kind given on the command line.
pub fn item_kind(s: &str) -> Result<ItemKind, String> {
    ItemKind::parse(s).ok_or_else(|| {
        let kinds: Vec<_> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("{s:?} is not an item kind: use one of {}", kinds.join(", "))
    })
}

/// Which review items `review list` shows: those of one status, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Only(ReviewStatus),
    All,
}

impl StatusFilter {
    /// The word for every status.
    const ALL_TEXT: &'static str = "all";

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Only(status) => status.as_str(),
            StatusFilter::All => Self::ALL_TEXT,
        }
    }

    /// The filter `review list` uses when `--status` is not given.
    pub fn or_default(filter: Option<StatusFilter>) -> StatusFilter {
        filter.unwrap_or(StatusFilter::Only(ReviewStatus::Open))
    }
}

/// `--status`: each review status, or `all` (clap lists them in `--help`).
fn status_filter() -> impl TypedValueParser<Value = StatusFilter> {
    let names = ReviewStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .chain([StatusFilter::ALL_TEXT]);
    PossibleValuesParser::new(names).try_map(|s| match s.as_str() {
        StatusFilter::ALL_TEXT => Ok(StatusFilter::All),
        other => other.parse().map(StatusFilter::Only),
    })
}

#[derive(Debug, Args)]
pub struct ReviewList {
    /// Only this team's items (admins; a manager sees their own team's)
    #[arg(long, value_name = "ID")]
    pub team: Option<String>,
    /// Only items about this child
    #[arg(long, value_name = "ID")]
    pub child: Option<String>,
    /// Only items on this kind of document: visit_note, about_me, contact_card or short_plan
    #[arg(long)]
    pub kind: Option<DocKind>,
    /// Only this kind of item: conflict (two values written at once), amendment (a change
    /// after completion, with a reason), pending_amendment (a change made without seeing the
    /// completion or sign-off), plan_limit (a plan over the team's point limit) or
    /// invalid_merge (edits that together break a rule)
    #[arg(long, value_name = "ITEM", value_parser = item_kind)]
    pub item: Option<ItemKind>,
    /// Only items raised at least this many hours ago
    #[arg(long, value_name = "N")]
    pub older_than_hours: Option<u32>,
    /// open, resolved, dismissed or all [default: open]
    #[arg(long, value_parser = status_filter())]
    pub status: Option<StatusFilter>,
    #[command(flatten)]
    pub page: Page,
}

/// One review item, by its id.
#[derive(Debug, Args)]
pub struct ItemArg {
    /// The item's id (see `fieldnotes review list`)
    pub id: i64,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("decision")
        .required(true)
        .args(["choose", "value", "accept", "restore"])
))]
pub struct ReviewResolve {
    #[command(flatten)]
    pub item: ItemArg,
    /// Take side N's value (the sides are numbered by `fieldnotes review show ID`)
    #[arg(long, value_name = "N")]
    pub choose: Option<usize>,
    /// Write this value instead (for example a merge of the sides); for a plan over its limit,
    /// the points to keep, one per line
    #[arg(long, value_name = "TEXT")]
    pub value: Option<String>,
    /// Keep the record as it now is (an amendment accepted)
    #[arg(long)]
    pub accept: bool,
    /// Put the record back as it was before the amendment (or as completed or signed off)
    #[arg(long)]
    pub restore: bool,
    /// Why you decided so (at least 3 characters); kept with the decision and in the audit log
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ReviewDismiss {
    #[command(flatten)]
    pub item: ItemArg,
    /// Why nothing needs changing (at least 3 characters); kept with the decision
    #[arg(long)]
    pub reason: String,
}
