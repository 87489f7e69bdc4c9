//! Shared by the end-to-end test files: run each test on both backends.

/// Run each named `async fn(Backend)` as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(fieldnotes_tests::Backend::Sqlite).await.unwrap();
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(fieldnotes_tests::Backend::Postgres).await.unwrap();
                }
            )*
        }
    };
}
