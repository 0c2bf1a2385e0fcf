//! Events whose summary values stay encoded until asked for, one at a time: reading an
//! event of millions of values (or of one huge tensor) then needs memory for its encoded
//! bytes and one decoded value, not for millions of decoded `Value`s (each about half a
//! kilobyte in memory against a dozen bytes on disk).
//!
//! ```
//! use prost::Message;
//! use wick_tfevents::lazy::LazyEvent;
//! use wick_tfevents::proto::{event::What, summary::{value, Value}, Event, Summary};
//! let values = (0..3).map(|i| Value { tag: format!("t{i}"), value: Some(value::Value::SimpleValue(0.5)), ..Default::default() });
//! let event = Event { step: 7, what: Some(What::Summary(Summary { value: values.collect() })), ..Default::default() };
//! let lazy = LazyEvent::decode(event.encode_to_vec()).unwrap();
//! assert_eq!((lazy.step(), lazy.summary_len()), (7, Some(3)));
//! assert_eq!(lazy.summary_values().map(|v| v.tag).collect::<Vec<_>>(), ["t0", "t1", "t2"]);
//! assert_eq!(lazy.to_event().unwrap(), event);
//! ```

use crate::proto::summary::Value;
use crate::proto::{Event, LogMessage, SessionLog, SourceMetadata, Summary, TaggedRunMetadata};
use prost::bytes::{Buf, BufMut};
use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
use prost::{DecodeError, Message};

/// The `summary` field number of `Event`.
const SUMMARY_FIELD: u32 = 5;
/// The field numbers of `Event`'s `what` oneof.
const WHAT_FIELDS: std::ops::RangeInclusive<u32> = 3..=9;

/// `Event` with its summary values counted (each decoded and dropped) instead of kept.
#[derive(Clone, PartialEq, Message)]
struct EventShell {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(message, optional, tag = "10")]
    source_metadata: Option<SourceMetadata>,
    #[prost(oneof = "ShellWhat", tags = "3, 4, 5, 6, 7, 8, 9")]
    what: Option<ShellWhat>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum ShellWhat {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(bytes, tag = "4")]
    GraphDef(Vec<u8>),
    #[prost(message, tag = "5")]
    Summary(SummaryCount),
    #[prost(message, tag = "6")]
    LogMessage(LogMessage),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
    #[prost(message, tag = "8")]
    TaggedRunMetadata(TaggedRunMetadata),
    #[prost(bytes, tag = "9")]
    MetaGraphDef(Vec<u8>),
}

/// A `Summary` decoded for validity only: each value is decoded, counted and dropped.
#[derive(Clone, Debug, Default, PartialEq)]
struct SummaryCount {
    values: u64,
}

impl Message for SummaryCount {
    fn encode_raw(&self, _buf: &mut impl BufMut) {}

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag == 1 {
            let mut value = Value::default();
            prost::encoding::message::merge(wire_type, &mut value, buf, ctx)?;
            self.values += 1;
            Ok(())
        } else {
            skip_field(wire_type, tag, buf, ctx)
        }
    }

    fn encoded_len(&self) -> usize {
        0
    }

    fn clear(&mut self) {
        self.values = 0;
    }
}

/// What an event holds besides its summary values: [`Event::what`] with a summary's
/// values left out (they are read with [`LazyEvent::summary_values`]).
pub type EventHeader = Event;

/// One decoded event whose summary values are decoded on demand.
#[derive(Clone, Debug, PartialEq)]
pub struct LazyEvent {
    data: Vec<u8>,
    shell: EventShell,
}

impl LazyEvent {
    /// Checks that `data` is a valid `Event` (exactly as `Event::decode` would, value by
    /// value) and keeps it for reading the summary values later.
    pub fn decode(data: Vec<u8>) -> Result<Self, DecodeError> {
        let shell = EventShell::decode(data.as_slice())?;
        Ok(LazyEvent { data, shell })
    }

    /// The encoded event.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Seconds since the Unix epoch.
    pub fn wall_time(&self) -> f64 {
        self.shell.wall_time
    }

    /// The step.
    pub fn step(&self) -> i64 {
        self.shell.step
    }

    /// Number of summary values, when the event is a summary.
    pub fn summary_len(&self) -> Option<u64> {
        match &self.shell.what {
            Some(ShellWhat::Summary(s)) => Some(s.values),
            _ => None,
        }
    }

    /// The event without its summary values: a summary event comes back with an empty
    /// `Summary`, any other one whole.
    pub fn header(&self) -> EventHeader {
        use crate::proto::event::What;
        let what = self.shell.what.clone().map(|w| match w {
            ShellWhat::FileVersion(v) => What::FileVersion(v),
            ShellWhat::GraphDef(v) => What::GraphDef(v),
            ShellWhat::Summary(_) => What::Summary(Summary::default()),
            ShellWhat::LogMessage(v) => What::LogMessage(v),
            ShellWhat::SessionLog(v) => What::SessionLog(v),
            ShellWhat::TaggedRunMetadata(v) => What::TaggedRunMetadata(v),
            ShellWhat::MetaGraphDef(v) => What::MetaGraphDef(v),
        });
        Event {
            wall_time: self.shell.wall_time,
            step: self.shell.step,
            source_metadata: self.shell.source_metadata.clone(),
            what,
        }
    }

    /// The summary values in order, each decoded when reached (none when the event is
    /// not a summary).
    pub fn summary_values(&self) -> SummaryValues<'_> {
        if self.summary_len().is_none() {
            return SummaryValues { outer: &[], inner: &[] };
        }
        // As protobuf merges them: the summary fields after the last other `what` field.
        let mut outer = self.data.as_slice();
        let mut start = outer;
        while let Ok((tag, wire_type)) = decode_key(&mut outer) {
            if skip_field(wire_type, tag, &mut outer, DecodeContext::default()).is_err() {
                break;
            }
            if tag != SUMMARY_FIELD && WHAT_FIELDS.contains(&tag) {
                start = outer;
            }
        }
        SummaryValues { outer: start, inner: &[] }
    }

    /// Roughly the memory the whole decoded [`Event`] takes: its bytes plus a `Value`
    /// struct per summary value.
    pub fn decoded_size_estimate(&self) -> u64 {
        let values = self.summary_len().unwrap_or(0);
        (self.data.len() as u64).saturating_add(values.saturating_mul(std::mem::size_of::<Value>() as u64))
    }

    /// The whole event, all values decoded at once.
    pub fn to_event(&self) -> Result<Event, DecodeError> {
        Event::decode(self.data.as_slice())
    }
}

/// Iterator over a [`LazyEvent`]'s summary values.
#[derive(Debug, Clone)]
pub struct SummaryValues<'a> {
    /// The rest of the event's fields.
    outer: &'a [u8],
    /// The rest of the summary field being read.
    inner: &'a [u8],
}

/// The next length-delimited field numbered `field` in `buf`, skipping others.
fn next_field<'a>(buf: &mut &'a [u8], field: u32) -> Option<&'a [u8]> {
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(buf).ok()?;
        if tag == field && wire_type == WireType::LengthDelimited {
            let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
            let (body, rest) = (buf.get(..len)?, buf.get(len..)?);
            *buf = rest;
            return Some(body);
        }
        skip_field(wire_type, tag, buf, DecodeContext::default()).ok()?;
    }
    None
}

impl Iterator for SummaryValues<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(body) = next_field(&mut self.inner, 1) {
                // The event decoded as a whole already, so this cannot fail.
                return Value::decode(body).ok();
            }
            self.inner = next_field(&mut self.outer, SUMMARY_FIELD)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::event::What;
    use crate::proto::summary::value;

    fn scalar(tag: &str) -> Value {
        Value { tag: tag.into(), value: Some(value::Value::SimpleValue(1.0)), ..Default::default() }
    }

    #[test]
    fn repeated_summary_fields_merge_and_other_fields_reset() {
        let part = |tags: &[&str]| {
            Event {
                what: Some(What::Summary(Summary { value: tags.iter().map(|t| scalar(t)).collect() })),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let version = Event { what: Some(What::FileVersion("v".into())), ..Default::default() }.encode_to_vec();
        for bytes in [
            [part(&["a"]), part(&["b", "c"])].concat(),
            [part(&["x"]), version.clone(), part(&["a", "b"]), part(&["c"])].concat(),
        ] {
            let lazy = LazyEvent::decode(bytes.clone()).unwrap();
            let full = Event::decode(bytes.as_slice()).unwrap();
            let Some(What::Summary(s)) = &full.what else { panic!() };
            assert_eq!(lazy.summary_values().collect::<Vec<_>>(), s.value);
            assert_eq!(lazy.summary_len(), Some(s.value.len() as u64));
        }
        let lazy = LazyEvent::decode([part(&["a"]), version].concat()).unwrap();
        assert_eq!(lazy.summary_len(), None);
        assert_eq!(lazy.summary_values().count(), 0);
        assert_eq!(lazy.header().what, Some(What::FileVersion("v".into())));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_full_decode(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let full = Event::decode(bytes.as_slice());
            let lazy = LazyEvent::decode(bytes.clone());
            proptest::prop_assert_eq!(full.is_ok(), lazy.is_ok());
            if let (Ok(full), Ok(lazy)) = (full, lazy) {
                let mut rebuilt = lazy.header();
                if let Some(What::Summary(s)) = &mut rebuilt.what {
                    s.value = lazy.summary_values().collect();
                }
                proptest::prop_assert_eq!(rebuilt, full);
            }
        }
    }
}
