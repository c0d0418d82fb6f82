//! What the crate knows per API: the `ApiKey` enum, the versions we decode and encode
//! (`SUPPORTED_VERSIONS`, which the broker's ApiVersions response advertises), the
//! `Message` trait every generated request and response implements, and the `Request` and
//! `Response` enums that dispatch by API key. The enums and tables are generated from the
//! definitions in `messages/`, so they cannot drift from the codec.

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};

/// An inclusive range of message versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version.
    pub min: i16,
    /// The highest version.
    pub max: i16,
}

impl VersionRange {
    /// Whether `version` lies in the range.
    pub fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// Every version in the range, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = i16> + use<> {
        self.min..=self.max
    }
}

/// A request or response body of one API.
pub trait Message: Sized {
    /// The API this message belongs to.
    const API_KEY: ApiKey;
    /// The versions this crate decodes and encodes.
    const VERSIONS: VersionRange;

    /// Decodes a body at `version`, advancing `buf` past it. Byte and `records` fields are
    /// zero-copy slices of `buf`. Never panics and never reserves more than `buf` can hold.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;

    /// Appends the body encoded at `version`. Fields absent in `version` are skipped.
    fn encode(&self, out: &mut crate::Output, version: i16) -> Result<(), EncodeError>;
}

impl ApiKey {
    /// Whether `version` of this API uses the flexible encoding.
    pub fn is_flexible(self, version: i16) -> bool {
        self.flexible_from().is_some_and(|v| version >= v)
    }
}

/// The APIs and versions we decode and encode, for the ApiVersions response.
pub fn supported_versions() -> &'static [(ApiKey, VersionRange)] {
    SUPPORTED_VERSIONS
}

include!(concat!(env!("OUT_DIR"), "/apis.rs"));
