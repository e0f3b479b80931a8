//! Reading a consumed record's headers without trusting them: rust-rdkafka's header
//! iterator panics on a key that is not UTF-8 (`CStr::to_str().unwrap()`), which would kill
//! a stream thread on one bad record from any producer.

use crate::processor::Headers;
use rdkafka::message::{BorrowedHeaders, Message};

/// The record's headers; a key that is not UTF-8 is read lossily (invalid bytes become
/// U+FFFD) and logged, naming the record.
pub(crate) fn read<M: Message<Headers = BorrowedHeaders>>(msg: &M) -> Headers {
    let mut headers = Headers::new();
    let Some(h) = msg.headers() else {
        return headers;
    };
    // SAFETY: `BorrowedHeaders` is librdkafka's header list behind a reference that lives
    // as long as the message (rust-rdkafka casts the same pointer); librdkafka only writes
    // the three out-parameters, which point into that list and live as long as it does.
    let native = h as *const rdkafka::message::BorrowedHeaders
        as *const rdkafka::bindings::rd_kafka_headers_t;
    let count = unsafe { rdkafka::bindings::rd_kafka_header_cnt(native) };
    for idx in 0..count {
        let mut name: *const std::ffi::c_char = std::ptr::null();
        let mut value: *const std::ffi::c_void = std::ptr::null();
        let mut size: usize = 0;
        let err = unsafe {
            rdkafka::bindings::rd_kafka_header_get_all(
                native, idx, &mut name, &mut value, &mut size,
            )
        };
        if err != rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            || name.is_null()
        {
            continue;
        }
        // SAFETY: librdkafka header names are NUL-terminated; the value is `size` bytes.
        let key = unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes();
        let value = (!value.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(value as *const u8, size) }.to_vec());
        let key = match std::str::from_utf8(key) {
            Ok(k) => k.to_string(),
            Err(_) => {
                tracing::warn!(
                    "header key {key:?} of the record at {}-{} offset {} is not UTF-8; read lossily",
                    msg.topic(),
                    msg.partition(),
                    msg.offset()
                );
                String::from_utf8_lossy(key).into_owned()
            }
        };
        headers.add(key, value);
    }
    headers
}
