//! StreamBus's Kafka wire codec. Level 0: no I/O, no async runtime.
//!
//! It owns, from the outside in:
//! - [`frame`]: the 4-byte size prefix, checked against a maximum before any allocation;
//! - [`header`]: request headers v0-v2, response headers v0-v1, and which version each API
//!   version uses;
//! - [`messages`]: one module per request and response, generated at build time from the
//!   definitions in `crates/protocol/messages/*.sb` (our own format; see `build/parse.rs`);
//! - [`api`]: the [`ApiKey`] enum, the [`Message`] trait, the [`Request`] and [`Response`]
//!   enums, and [`supported_versions`], the table ApiVersions advertises;
//! - [`error_code`]: Kafka's error codes.
//!
//! [`encode_request`], [`RequestHeader::decode_frame`] with [`decode_request`],
//! [`encode_response`] and [`decode_response`] put these together for whole frames.
//!
//! Decoding never panics and never reserves memory from a wire count before checking that
//! the bytes left can hold it; byte and `records` fields are zero-copy [`bytes::Bytes`]
//! slices of the frame.

pub mod api;
#[allow(dead_code)] // primitives for types not every definition uses yet
mod codec;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod header;
mod output;

/// Generated request and response types, one module per message.
#[allow(missing_docs, unused_variables, clippy::all)]
pub mod messages {
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}

#[cfg(test)]
#[macro_use]
#[allow(clippy::all, unused)]
mod arbitrary {
    //! Proptest strategies for every generated struct, valid for a given version.
    use bytes::Bytes;
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;

    include!(concat!(env!("OUT_DIR"), "/arbitrary.rs"));
}

#[cfg(test)]
mod tests;

pub use api::{ApiKey, Message, Request, Response, VersionRange, supported_versions};
pub use error::{DecodeError, EncodeError};
pub use error_code::ErrorCode;
pub use header::{RequestHeader, ResponseHeader};
pub use output::{Output, SPLICE_MIN};

/// A Kafka UUID (topic ids): 16 bytes, most significant first.
pub type Uuid = [u8; 16];

/// Appends a whole request frame: size prefix, header (at the version `request` needs) and
/// body. The header's API key and version must be those of `request`.
pub fn encode_request(
    out: &mut Output,
    header: &RequestHeader,
    request: &Request,
) -> Result<(), EncodeError> {
    frame::write_with(
        out,
        |payload| {
            header.encode(
                payload,
                header::request_header_version(header.api_key, header.api_version),
            )?;
            request.encode(payload, header.api_version)
        },
        |len| EncodeError::BytesTooLong { len },
    )
}

/// Appends a whole response frame: size prefix, header (at the version the request's API and
/// version call for) and body. A [`Output::splicing`] output references large record sets
/// instead of copying them.
pub fn encode_response(
    out: &mut Output,
    api_version: i16,
    correlation_id: i32,
    response: &Response,
) -> Result<(), EncodeError> {
    let api_key = response.api_key() as i16;
    frame::write_with(
        out,
        |payload| {
            ResponseHeader { correlation_id }.encode(
                payload,
                header::response_header_version(api_key, api_version),
            );
            response.encode(payload, api_version)
        },
        |len| EncodeError::BytesTooLong { len },
    )
}

/// Decodes a response frame's payload (without the size prefix) for a request of `api` at
/// `api_version`.
pub fn decode_response(
    api: ApiKey,
    api_version: i16,
    mut payload: bytes::Bytes,
) -> Result<(ResponseHeader, Response), DecodeError> {
    let header = ResponseHeader::decode(
        &mut payload,
        header::response_header_version(api as i16, api_version),
    )?;
    Ok((header, Response::decode(api, api_version, &mut payload)?))
}

/// Decodes the body of a request whose header has been read.
pub fn decode_request(
    header: &RequestHeader,
    mut body: bytes::Bytes,
) -> Result<Request, DecodeError> {
    let api = ApiKey::from_i16(header.api_key).ok_or(DecodeError::UnknownApiKey {
        key: header.api_key,
    })?;
    Request::decode(api, header.api_version, &mut body)
}
