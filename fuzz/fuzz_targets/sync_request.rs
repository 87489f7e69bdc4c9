//! A sync request body, as the server reads it from a device (gzip, JSON, each push entry).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fieldnotes_fuzz::read_sync_request(data);
});
