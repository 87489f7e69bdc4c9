use super::*;

#[test]
fn every_value_round_trips_through_text_and_json() {
    fn check<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: serde::Serialize + serde::de::DeserializeOwned,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for v in all {
            let text = v.to_string();
            assert_eq!(text.parse::<T>().unwrap(), *v);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
    }
    check(Role::ALL);
    check(DocKind::ALL);
    check(RecordStatus::ALL);
    check(ItemKind::ALL);
    check(ReviewStatus::ALL);
    check(RejectCode::ALL);
    check(ErrorCode::ALL);
}

#[test]
fn an_unknown_value_is_an_error_naming_it_and_the_valid_ones() {
    let err = "boss".parse::<Role>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"boss\" is not a role; use one of: social_worker, youth_worker, manager, admin"
    );
    let err = serde_json::from_str::<ReviewStatus>("\"closed\"").unwrap_err();
    assert!(
        err.to_string().contains("open, resolved, dismissed"),
        "{err}"
    );
    assert_eq!(RejectCode::parse("nonsense"), None);
    assert_eq!(
        ErrorCode::parse("device_revoked"),
        Some(ErrorCode::DeviceRevoked)
    );
}

#[test]
fn scope_keys_read_and_write_their_text() {
    for (text, key) in [
        ("*", ScopeKey::All),
        ("child:c-1", ScopeKey::child("c-1")),
        ("worker:u:2", ScopeKey::worker("u:2")),
    ] {
        assert_eq!(text.parse::<ScopeKey>().unwrap(), key);
        assert_eq!(key.to_string(), text);
        assert_eq!(serde_json::to_string(&key).unwrap(), format!("\"{text}\""));
    }
    assert_eq!(ScopeKey::child("c").child_id(), Some("c"));
    assert_eq!(ScopeKey::worker("w").worker_id(), Some("w"));
    assert_eq!(ScopeKey::All.child_id(), None);
    for bad in ["", "child:", "team:t", "CHILD:c", "**"] {
        let err = bad.parse::<ScopeKey>().unwrap_err();
        assert!(
            err.to_string().contains("is not a scope key"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn record_status_locks_completed_and_signed_off_records() {
    assert!(!RecordStatus::Draft.is_locked());
    assert!(RecordStatus::Completed.is_locked());
    assert!(RecordStatus::SignedOff.is_locked());
}

#[test]
fn a_timestamp_is_rfc3339_utc_text_and_reads_back() {
    let at = Timestamp(1_781_481_599_000);
    assert_eq!(at.to_string(), "2026-06-14T23:59:59Z");
    assert_eq!(
        serde_json::to_string(&Timestamp(1_781_481_599_250)).unwrap(),
        "\"2026-06-14T23:59:59.25Z\""
    );
    for ms in [0, 1_781_481_599_000, 1_781_481_599_250, -1, -86_400_001] {
        let json = serde_json::to_string(&Timestamp(ms)).unwrap();
        assert_eq!(
            serde_json::from_str::<Timestamp>(&json).unwrap(),
            Timestamp(ms)
        );
    }
    assert_eq!(
        "2026-06-15T01:59:59+02:00".parse::<Timestamp>().unwrap(),
        at
    );
}

#[test]
fn a_timestamp_outside_the_calendar_is_written_as_its_number() {
    let far = Timestamp(i64::MAX);
    assert_eq!(far.to_string(), format!("{}ms", i64::MAX));
    let json = serde_json::to_string(&far).unwrap();
    assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), far);
    let err = "yesterday".parse::<Timestamp>().unwrap_err();
    assert!(err.to_string().contains("\"yesterday\""), "{err}");
    assert!(serde_json::from_str::<Timestamp>("\"12xms\"").is_err());
}
