//! Password hashing with Argon2id (the crate's defaults: 19 MiB, 2 passes), stored as PHC
//! strings so the parameters travel with each hash and can be raised later.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{ApiError, ErrorCode};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (sign-in refuses longer ones before hashing anything).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Check a new password is acceptable; the error says what to change.
pub fn check_new_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if password.trim().is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::WeakPassword,
            "a password cannot be blank or only spaces; choose one of at least \
             10 characters",
        ));
    }
    if chars < MIN_PASSWORD_CHARS || password.trim().chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::WeakPassword,
            format!(
                "a password must be at least {MIN_PASSWORD_CHARS} characters long, not counting \
                 spaces at either end"
            ),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::WeakPassword,
            format!("a password can be at most {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

/// Hash a password for storage. CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password failed: {e}")))
}

/// True when `password` matches the stored PHC string. CPU-heavy: call from a blocking task.
pub fn verify_password(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash cannot be read");
            false
        }
    }
}

/// Hash on the blocking pool, so sign-ins do not stall other requests.
pub async fn hash_password_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing task failed: {e}")))?
}

/// Verify on the blocking pool, at most `slots` at a time (each check takes about 19 MiB and
/// tens of milliseconds: a flood of sign-ins must queue, not exhaust the machine). With no
/// stored hash (unknown person, or one who signs in through the identity provider) a dummy
/// hash is checked instead, so that the answer takes as long either way and does not tell who
/// has an account.
pub async fn verify_password_blocking(
    slots: &tokio::sync::Semaphore,
    stored: Option<String>,
    password: String,
) -> bool {
    let Ok(_permit) = slots.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_password(&stored, &password),
        None => {
            let _ = verify_password(DUMMY_HASH, &password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Argon2id hash of a random string, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7y3Nx0wH9VdXc1cyhJpD8kq3Ezxc1xnRj0ZmOJk3w7s";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "anything"));
    }

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        let err = check_new_password("short")
            .expect_err("too short")
            .to_string();
        assert!(err.contains("at least 10"), "{err}");
        check_new_password("long enough now").expect("fine");
        let blank = check_new_password("          ")
            .expect_err("ten spaces")
            .to_string();
        assert!(blank.contains("blank"), "{blank}");
        assert!(
            check_new_password("  short   ").is_err(),
            "padding does not count"
        );
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = PasswordHash::new(DUMMY_HASH).expect("a valid hash");
        let real_hash = hash_password("any password at all").expect("hash");
        let real = PasswordHash::new(&real_hash).expect("a valid hash");
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(
            dummy.params.to_string(),
            real.params.to_string(),
            "same memory, passes and lanes, so unknown users take as long"
        );
    }
}
