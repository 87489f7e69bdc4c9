//! Arguments of the record-lifecycle commands that are not per kind (`delete`, `history`,
//! `diff`) and of the review queue (`review ...`).

use clap::{ArgGroup, Args, Subcommand};
use fieldnotes_protocol::review::ReviewQuery;

use crate::args::{DocArg, RecordArg};

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
    List(ReviewQuery),
    /// Show one item: each side numbered, with its value, who wrote it, on which device and
    /// when
    Show(ItemArg),
    /// Settle an item: choose a side's value, write a value, accept an amendment, or restore
    /// the record; the decision is sent at once and reaches every device on its next sync
    Resolve(ReviewResolve),
    /// Dismiss an item: nothing in the record needs changing
    Dismiss(ReviewDismiss),
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
