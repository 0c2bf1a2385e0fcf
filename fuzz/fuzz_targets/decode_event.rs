//! Event decoding over arbitrary payloads: the lazy decoder must accept exactly what
//! `Event::decode` accepts and give the same values; decoding each value per plugin and
//! the JSON of `wick-events dump` must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use wick_tfevents::decode::{decode_value, DecodeOptions};
use wick_tfevents::lazy::LazyEvent;
use wick_tfevents::proto::{event::What, Event};

fuzz_target!(|data: &[u8]| {
    let full = Event::decode(data);
    let lazy = LazyEvent::decode(data.to_vec());
    assert_eq!(full.is_ok(), lazy.is_ok(), "Event::decode and LazyEvent::decode disagree");
    let (Ok(full), Ok(lazy)) = (full, lazy) else { return };
    let values: Vec<_> = lazy.summary_values().collect();
    match &full.what {
        Some(What::Summary(s)) => assert_eq!(s.value, values),
        _ => assert!(values.is_empty()),
    }
    for options in [DecodeOptions::default(), DecodeOptions { blobs_base64: true }] {
        for value in &values {
            let decoded = decode_value(value, &options);
            let json = serde_json::to_string(&decoded).expect("decoded values serialize");
            assert!(json.starts_with('{'));
        }
    }
});
