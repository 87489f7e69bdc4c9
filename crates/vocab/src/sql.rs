//! The stored vocabulary as TEXT columns, on any sqlx database whose `str` is text.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::{DocKind, ErrorCode, ItemKind, RecordStatus, RejectCode, ReviewStatus, Role, ScopeKey};

/// `Type`, `Encode` and `Decode` as text for types that are `Display` and `FromStr` (the body
/// is the same for each; only the type differs, and the orphan rule forbids one blanket impl).
/// Exported so that a crate with a value built from the vocabulary stores it the same way.
#[macro_export]
macro_rules! stored_as_text {
    ($($t:ty),+) => {$(
        impl<DB: $crate::__sqlx::Database> $crate::__sqlx::Type<DB> for $t
        where
            str: $crate::__sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo { <str as $crate::__sqlx::Type<DB>>::type_info() }
            fn compatible(ty: &DB::TypeInfo) -> bool { <str as $crate::__sqlx::Type<DB>>::compatible(ty) }
        }
        impl<'q, DB: $crate::__sqlx::Database> $crate::__sqlx::Encode<'q, DB> for $t
        where
            String: $crate::__sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer<'q>,
            ) -> Result<$crate::__sqlx::encode::IsNull, $crate::__sqlx::error::BoxDynError> {
                $crate::__sqlx::Encode::<'q, DB>::encode(self.to_string(), buf)
            }
        }
        impl<'r, DB: $crate::__sqlx::Database> $crate::__sqlx::Decode<'r, DB> for $t
        where
            &'r str: $crate::__sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, $crate::__sqlx::error::BoxDynError> {
                Ok(<&'r str as $crate::__sqlx::Decode<'r, DB>>::decode(value)?.parse()?)
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

/// A [`Timestamp`](crate::Timestamp) is its milliseconds, as BIGINT.
impl<DB: Database> Type<DB> for crate::Timestamp
where
    i64: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: Database> Encode<'q, DB> for crate::Timestamp
where
    i64: Encode<'q, DB>,
{
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        self.0.encode_by_ref(buf)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for crate::Timestamp
where
    i64: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<'r, DB>>::decode(value).map(crate::Timestamp)
    }
}
