//! The stored vocabulary as TEXT columns, on any sqlx database whose `str` is text.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::{DocKind, ErrorCode, ItemKind, RecordStatus, RejectCode, ReviewStatus, Role, ScopeKey};

/// `Type`, `Encode` and `Decode` as text for vocabulary types (the body is the same for each;
/// only the type differs, and the orphan rule forbids one blanket impl).
macro_rules! stored_as_text {
    ($($t:ty),+) => {$(
        impl<DB: Database> Type<DB> for $t where str: Type<DB> {
            fn type_info() -> DB::TypeInfo { <str as Type<DB>>::type_info() }
            fn compatible(ty: &DB::TypeInfo) -> bool { <str as Type<DB>>::compatible(ty) }
        }
        impl<'q, DB: Database> Encode<'q, DB> for $t where String: Encode<'q, DB> {
            fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
                self.to_string().encode(buf)
            }
        }
        impl<'r, DB: Database> Decode<'r, DB> for $t where &'r str: Decode<'r, DB> {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&'r str as Decode<'r, DB>>::decode(value)?.parse()?)
            }
        }
    )+};
}

stored_as_text!(
    Role,
    DocKind,
    RecordStatus,
    ItemKind,
    ReviewStatus,
    RejectCode,
    ErrorCode,
    ScopeKey
);
