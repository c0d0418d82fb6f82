//! Errors of decoding and encoding. Decoding errors are what a client can cause with a
//! malformed frame; encoding errors are what the broker can cause by building a message the
//! chosen version cannot carry.

/// A frame, header or body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input: needed {needed} bytes, {remaining} left")]
    UnexpectedEof {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length prefix was negative but not the null marker -1.
    #[error("negative length {length}")]
    NegativeLength {
        /// The length read.
        length: i64,
    },
    /// A null length where the field is not nullable in this version.
    #[error("null value where the version does not allow null")]
    UnexpectedNull,
    /// An array count that cannot fit in the bytes left, rejected before any allocation.
    #[error("array of {count} elements cannot fit in the {remaining} bytes left")]
    ArrayTooLong {
        /// The element count read.
        count: u64,
        /// Bytes that were left.
        remaining: usize,
    },
    /// An unsigned varint longer than five bytes.
    #[error("unsigned varint longer than five bytes")]
    VarintTooLong,
    /// A string that is not UTF-8.
    #[error("string is not valid utf-8")]
    InvalidUtf8 {
        /// The conversion error.
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// A message version outside the versions this crate supports.
    #[error("{message} version {version} is not supported")]
    UnsupportedVersion {
        /// The message name.
        message: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// An API key this crate has no definition for.
    #[error("unknown api key {key}")]
    UnknownApiKey {
        /// The key read.
        key: i16,
    },
    /// A field failed to decode.
    #[error("in field `{field}`")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What went wrong inside it.
        #[source]
        source: Box<DecodeError>,
    },
}

impl DecodeError {
    /// The innermost error, looking through field context.
    pub fn root(&self) -> &DecodeError {
        match self {
            DecodeError::Field { source, .. } => source.root(),
            other => other,
        }
    }

    /// The dotted path of fields the error happened in, outermost first.
    pub fn path(&self) -> String {
        let mut parts = Vec::new();
        let mut e = self;
        while let DecodeError::Field { field, source } = e {
            parts.push(*field);
            e = source;
        }
        parts.join(".")
    }
}

/// A message could not be encoded at the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string longer than its length prefix can express.
    #[error("string of {len} bytes is too long for its length prefix")]
    StringTooLong {
        /// The string's length in bytes.
        len: usize,
    },
    /// A byte field longer than its length prefix can express.
    #[error("byte field of {len} bytes is too long for its length prefix")]
    BytesTooLong {
        /// The field's length.
        len: usize,
    },
    /// An array with more elements than its count prefix can express.
    #[error("array of {len} elements is too long for its count prefix")]
    ArrayTooLong {
        /// The element count.
        len: usize,
    },
    /// A null value in a field that is not nullable in this version.
    #[error("field `{field}` is null but version {version} does not allow null")]
    NullNotAllowed {
        /// The field's name.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A message version outside the versions this crate supports.
    #[error("{message} version {version} is not supported")]
    UnsupportedVersion {
        /// The message name.
        message: &'static str,
        /// The version asked for.
        version: i16,
    },
}
