//! Request and response headers, and the rule for which header version an API version uses:
//! flexible request versions use request header v2 and response header v1, others request
//! header v1 and response header v0; ApiVersions responses always use header v0 so that a
//! client can read them before it knows what the broker supports.

use bytes::Bytes;

use crate::api::ApiKey;
use crate::codec;
use crate::error::{DecodeError, EncodeError};

/// API key of ApiVersions, whose response header is always v0.
const API_VERSIONS_KEY: i16 = 18;
/// API key of ControlledShutdown, whose version 0 uses request header v0.
const CONTROLLED_SHUTDOWN_KEY: i16 = 7;

/// The request header version used by `api_version` of `api_key`.
pub fn request_header_version(api_key: i16, api_version: i16) -> i16 {
    match ApiKey::from_i16(api_key) {
        Some(api) if api.is_flexible(api_version) => 2,
        _ if api_key == CONTROLLED_SHUTDOWN_KEY && api_version == 0 => 0,
        _ => 1,
    }
}

/// The response header version used by `api_version` of `api_key`.
pub fn response_header_version(api_key: i16, api_version: i16) -> i16 {
    match ApiKey::from_i16(api_key) {
        _ if api_key == API_VERSIONS_KEY => 0,
        Some(api) if api.is_flexible(api_version) => 1,
        _ => 0,
    }
}

/// A request header (versions 0 to 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API key of the request.
    pub api_key: i16,
    /// The API version of the request.
    pub api_version: i16,
    /// Echoed in the response so the client can match it.
    pub correlation_id: i32,
    /// The client's id; present from header v1, a non-compact nullable string even in v2.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Decodes a header of `header_version`, advancing `buf` past it. Tagged fields of v2
    /// are skipped.
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        let mut header = RequestHeader {
            api_key: codec::field("api_key", codec::get_i16(buf))?,
            api_version: codec::field("api_version", codec::get_i16(buf))?,
            correlation_id: codec::field("correlation_id", codec::get_i32(buf))?,
            client_id: None,
        };
        if header_version >= 1 {
            header.client_id = codec::field("client_id", codec::get_nullable_string(buf, false))?;
        }
        if header_version >= 2 {
            codec::field("tagged_fields", codec::skip_tagged_fields(buf))?;
        }
        Ok(header)
    }

    /// Decodes the header at the front of a request frame, choosing the header version from
    /// the API key and version it starts with. `frame` is left at the start of the body.
    pub fn decode_frame(frame: &mut Bytes) -> Result<Self, DecodeError> {
        let mut peek = frame.clone();
        let api_key = codec::field("api_key", codec::get_i16(&mut peek))?;
        let api_version = codec::field("api_version", codec::get_i16(&mut peek))?;
        Self::decode(frame, request_header_version(api_key, api_version))
    }

    /// Appends the header encoded at `header_version`.
    pub fn encode(&self, out: &mut crate::Output, header_version: i16) -> Result<(), EncodeError> {
        codec::put_i16(out, self.api_key);
        codec::put_i16(out, self.api_version);
        codec::put_i32(out, self.correlation_id);
        if header_version >= 1 {
            codec::put_nullable_string(out, self.client_id.as_deref(), false)?;
        }
        if header_version >= 2 {
            codec::put_uvarint(out, 0);
        }
        Ok(())
    }
}

/// A response header (versions 0 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Decodes a header of `header_version`, skipping v1's tagged fields.
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        let correlation_id = codec::field("correlation_id", codec::get_i32(buf))?;
        if header_version >= 1 {
            codec::field("tagged_fields", codec::skip_tagged_fields(buf))?;
        }
        Ok(ResponseHeader { correlation_id })
    }

    /// Appends the header encoded at `header_version`.
    pub fn encode(&self, out: &mut crate::Output, header_version: i16) {
        codec::put_i32(out, self.correlation_id);
        if header_version >= 1 {
            codec::put_uvarint(out, 0);
        }
    }
}
