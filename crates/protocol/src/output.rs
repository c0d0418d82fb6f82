//! [`Output`]: where messages are encoded. Bytes written in place, plus, when asked for,
//! record sets referenced rather than copied.
//!
//! A Fetch response is almost all record bytes that already sit in buffers read from the
//! log. An output made with [`Output::splicing`] keeps a reference to each large `records`
//! field (a cheap `Bytes` clone) at the point it belongs, and [`Output::io_slices`] hands the
//! whole frame to a vectored socket write: the record bytes go from the log's read buffer to
//! the socket without being copied into the response, and a large fetch costs its record
//! bytes once in memory instead of twice. Every other output copies, so
//! [`Output::into_bytes`] is the frame.

use std::io::IoSlice;

use bytes::{BufMut, Bytes, BytesMut};

/// Record sets smaller than this are copied even when splicing: an iovec entry and a
/// reference count cost more than copying a few kilobytes.
pub const SPLICE_MIN: usize = 4 << 10;

/// An encoding buffer. See the module documentation.
#[derive(Debug, Default)]
pub struct Output {
    /// Everything written in place.
    buf: BytesMut,
    /// Referenced record sets: each follows the first `.0` bytes of `buf`.
    spliced: Vec<(usize, Bytes)>,
    /// Total length of `spliced`.
    spliced_len: usize,
    /// Whether large record sets are referenced instead of copied.
    splice: bool,
}

/// A position to roll back to, from [`Output::mark`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    buf: usize,
    spliced: usize,
    spliced_len: usize,
}

impl Output {
    /// An output that copies everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// An output that references record sets of [`SPLICE_MIN`] bytes or more.
    pub fn splicing() -> Self {
        Output {
            splice: true,
            ..Self::default()
        }
    }

    /// Bytes encoded so far, referenced ones included.
    pub fn len(&self) -> usize {
        self.buf.len() + self.spliced_len
    }

    /// Whether nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity of the in-place buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Forgets everything encoded (dropping the references), keeping the buffer's capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spliced.clear();
        self.spliced_len = 0;
    }

    /// Appends a `records` field's bytes: referenced when splicing and large enough.
    pub(crate) fn put_records(&mut self, records: &Bytes) {
        if self.splice && records.len() >= SPLICE_MIN {
            self.spliced.push((self.buf.len(), records.clone()));
            self.spliced_len += records.len();
        } else {
            self.buf.put_slice(records);
        }
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            buf: self.buf.len(),
            spliced: self.spliced.len(),
            spliced_len: self.spliced_len,
        }
    }

    /// Drops everything written after `mark`.
    pub(crate) fn roll_back(&mut self, mark: Mark) {
        self.buf.truncate(mark.buf);
        self.spliced.truncate(mark.spliced);
        self.spliced_len = mark.spliced_len;
    }

    /// Total length at `mark`.
    pub(crate) fn len_at(mark: Mark) -> usize {
        mark.buf + mark.spliced_len
    }

    /// Overwrites in-place bytes written after `mark`, starting at its position.
    pub(crate) fn overwrite_at(&mut self, mark: Mark, bytes: &[u8]) {
        self.buf[mark.buf..mark.buf + bytes.len()].copy_from_slice(bytes);
    }

    /// The in-place bytes, which are everything unless this output splices.
    pub fn in_place(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded bytes as one buffer (copying the referenced ones, if any).
    pub fn into_bytes(self) -> BytesMut {
        if self.spliced.is_empty() {
            return self.buf;
        }
        let mut whole = BytesMut::with_capacity(self.len());
        for slice in self.io_slices() {
            whole.put_slice(&slice);
        }
        whole
    }

    /// The encoded bytes in order, for a vectored write.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        let mut slices = Vec::with_capacity(2 * self.spliced.len() + 1);
        let mut from = 0;
        for (at, records) in &self.spliced {
            if *at > from {
                slices.push(IoSlice::new(&self.buf[from..*at]));
            }
            slices.push(IoSlice::new(records));
            from = *at;
        }
        if self.buf.len() > from {
            slices.push(IoSlice::new(&self.buf[from..]));
        }
        slices
    }
}

impl From<BytesMut> for Output {
    /// Continues encoding after `buf`'s bytes, copying everything.
    fn from(buf: BytesMut) -> Self {
        Output {
            buf,
            ..Self::default()
        }
    }
}

/// The writes the codec makes, in place.
macro_rules! put {
    ($($name:ident: $ty:ty),*) => {
        impl Output {
            $(
                pub(crate) fn $name(&mut self, v: $ty) {
                    self.buf.$name(v);
                }
            )*
        }
    };
}

put!(put_u8: u8, put_i8: i8, put_i16: i16, put_u16: u16, put_i32: i32, put_i64: i64, put_f64: f64);

impl Output {
    /// Appends `src` in place.
    pub fn put_slice(&mut self, src: &[u8]) {
        self.buf.put_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(byte: u8) -> Bytes {
        Bytes::from(vec![byte; SPLICE_MIN])
    }

    fn joined(output: &Output) -> Vec<u8> {
        output.io_slices().iter().flat_map(|s| s.to_vec()).collect()
    }

    #[test]
    fn splicing_references_large_records_in_place() {
        let mut out = Output::splicing();
        out.put_slice(b"ab");
        out.put_records(&big(1));
        out.put_records(&big(2));
        out.put_slice(b"c");
        out.put_records(&Bytes::from_static(b"small"));
        assert_eq!(out.len(), 3 + 2 * SPLICE_MIN + 5);
        assert_eq!(out.in_place(), b"abcsmall");
        assert_eq!(out.io_slices().len(), 4);
        let mut expected = b"ab".to_vec();
        expected.extend(big(1));
        expected.extend(big(2));
        expected.extend(b"csmall");
        assert_eq!(joined(&out), expected);
        assert_eq!(out.into_bytes().to_vec(), expected);
    }

    #[test]
    fn a_copying_output_holds_everything_in_place() {
        let mut out = Output::new();
        out.put_records(&big(7));
        assert_eq!(out.in_place(), &big(7)[..]);
        assert_eq!(out.io_slices().len(), 1);
    }

    #[test]
    fn rolling_back_forgets_references_too() {
        let mut out = Output::splicing();
        out.put_slice(b"keep");
        let mark = out.mark();
        out.put_slice(b"drop");
        out.put_records(&big(3));
        out.roll_back(mark);
        assert_eq!(out.len(), 4);
        assert_eq!(joined(&out), b"keep");
    }

    #[test]
    fn a_spliced_fetch_response_is_the_copied_one() {
        use crate::messages::fetch_response::{
            FetchResponse, FetchableTopicResponse, PartitionData,
        };
        let records = [big(1), Bytes::from_static(b"tiny"), big(2)];
        let response = crate::Response::Fetch(FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: (0..3)
                    .map(|i| PartitionData {
                        partition_index: i,
                        records: Some(records[i as usize].clone()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        });
        for version in [4, 12] {
            let mut copied = Output::new();
            crate::encode_response(&mut copied, version, 7, &response).unwrap();
            let mut spliced = Output::splicing();
            crate::encode_response(&mut spliced, version, 7, &response).unwrap();
            let referenced = copied.len() - spliced.in_place().len();
            assert_eq!(referenced, 2 * SPLICE_MIN, "v{version}: the two large sets");
            assert_eq!(spliced.len(), copied.len());
            assert_eq!(joined(&spliced), copied.in_place(), "v{version}");
        }
    }
}
