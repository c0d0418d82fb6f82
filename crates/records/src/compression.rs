//! Kafka's record-batch compression codecs: gzip, snappy, lz4 and zstd.
//!
//! This module owns the byte formats of a compressed records section (everything after the
//! 61-byte batch header) and keeps one invariant: decompression never produces more than the
//! caller's `max_output` bytes, whatever the input claims, so a small decompression bomb
//! cannot exhaust the broker's memory. Streaming codecs (gzip, lz4, zstd) read through
//! `Read::take(max_output + 1)`; snappy blocks declare their length up front, which is
//! checked against the remaining budget before anything is allocated.
//!
//! Formats, as the Java client writes them:
//! - gzip: RFC 1952 members (several concatenated members are accepted, like
//!   `GZIPInputStream`).
//! - snappy: the xerial framing of `snappy-java` (magic `0x82 "SNAPPY" 0x00`, big-endian i32
//!   version 1 and minimum compatible version 1, then blocks of a big-endian i32 length and
//!   a raw snappy block of at most 32 KiB of input). Raw, unframed snappy (which librdkafka
//!   may send) is accepted on decompression too.
//! - lz4: the standard LZ4 frame format (KIP-57 fixed the header checksum for v1+ batches).
//! - zstd: one or more zstd frames, which may lack a content size.

use std::io::{self, Read, Write};

use thiserror::Error;

use crate::batch::Compression;

/// Magic bytes that open a xerial-framed snappy stream.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Version fields written after the magic: format version 1, minimum compatible version 1.
const XERIAL_VERSION: i32 = 1;
const XERIAL_MIN_COMPATIBLE_VERSION: i32 = 1;
/// Magic plus the two version fields.
const XERIAL_HEADER_SIZE: usize = XERIAL_MAGIC.len() + 8;
/// Input bytes per snappy block, the `snappy-java` default Kafka uses.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// zstd level of the Java client's default (`compression.zstd.level` = 3).
const ZSTD_LEVEL: i32 = 3;

/// Why a records section could not be compressed or decompressed.
#[derive(Debug, Error)]
pub enum CompressionError {
    /// Decompressing would produce more than the allowed number of bytes.
    #[error("{} output exceeds the limit of {limit} bytes", codec_name(.codec))]
    OutputTooLarge {
        /// The codec of the input.
        codec: Compression,
        /// The `max_output` the caller allowed.
        limit: usize,
    },
    /// The input violates the codec's framing.
    #[error("{} input is malformed: {reason}", codec_name(.codec))]
    Malformed {
        /// The codec of the input.
        codec: Compression,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The codec's decoder refused the input.
    #[error("{} decompression failed", codec_name(.codec))]
    Decompress {
        /// The codec of the input.
        codec: Compression,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// The codec's encoder failed.
    #[error("{} compression failed", codec_name(.codec))]
    Compress {
        /// The requested codec.
        codec: Compression,
        /// The encoder's error.
        #[source]
        source: io::Error,
    },
}

/// The codec's name as Kafka's `compression.type` spells it.
fn codec_name(codec: &Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// Decompresses `input`, a records section compressed with `codec`, refusing to produce more
/// than `max_output` bytes. [`Compression::None`] returns a copy of `input` (also subject to
/// `max_output`).
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Compression::None => decompress_none(input, max_output),
        Compression::Gzip => {
            read_bounded(codec, flate2::read::MultiGzDecoder::new(input), max_output)
        }
        Compression::Snappy => decompress_snappy(input, max_output),
        Compression::Lz4 => {
            read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input), max_output)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|source| CompressionError::Decompress { codec, source })?;
            read_bounded(codec, decoder, max_output)
        }
    }
}

/// Compresses `input` with `codec` in the format the Java client writes.
/// [`Compression::None`] returns a copy of `input`.
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let compress_error = |source: io::Error| CompressionError::Compress { codec, source };
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input).map_err(compress_error)?;
            encoder.finish().map_err(compress_error)
        }
        Compression::Snappy => compress_snappy(input),
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(input).map_err(compress_error)?;
            encoder.finish().map_err(|e| compress_error(e.into()))
        }
        Compression::Zstd => zstd::stream::encode_all(input, ZSTD_LEVEL).map_err(compress_error),
    }
}

fn decompress_none(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    if input.len() > max_output {
        return Err(CompressionError::OutputTooLarge {
            codec: Compression::None,
            limit: max_output,
        });
    }
    Ok(input.to_vec())
}

/// Reads `reader` to the end, but at most `max_output + 1` bytes: one byte more than allowed
/// is enough to know the limit is exceeded without ever holding more.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    let limit = u64::try_from(max_output)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut output = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut output)
        .map_err(|source| CompressionError::Decompress { codec, source })?;
    if output.len() > max_output {
        return Err(CompressionError::OutputTooLarge {
            codec,
            limit: max_output,
        });
    }
    Ok(output)
}

fn snappy_malformed(reason: &'static str) -> CompressionError {
    CompressionError::Malformed {
        codec: Compression::Snappy,
        reason,
    }
}

fn snappy_error(error: snap::Error) -> CompressionError {
    CompressionError::Decompress {
        codec: Compression::Snappy,
        source: error.into(),
    }
}

fn decompress_snappy(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    let mut output = Vec::new();
    if input.starts_with(&XERIAL_MAGIC) {
        decompress_xerial(input, max_output, &mut output)?;
    } else {
        decompress_snappy_block(input, max_output, &mut output)?;
    }
    Ok(output)
}

/// Decodes a xerial stream. Like `snappy-java`, a magic header found where a block length is
/// expected starts a concatenated stream and is skipped.
fn decompress_xerial(
    input: &[u8],
    max_output: usize,
    output: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let mut rest = input;
    while !rest.is_empty() {
        if rest.starts_with(&XERIAL_MAGIC) {
            rest = skip_xerial_header(rest)?;
            continue;
        }
        let (length, tail) = split_block_length(rest)?;
        if length > tail.len() {
            return Err(snappy_malformed("block length exceeds the input"));
        }
        let (block, tail) = tail.split_at(length);
        decompress_snappy_block(block, max_output, output)?;
        rest = tail;
    }
    Ok(())
}

fn skip_xerial_header(input: &[u8]) -> Result<&[u8], CompressionError> {
    let header = input
        .get(..XERIAL_HEADER_SIZE)
        .ok_or_else(|| snappy_malformed("xerial header is truncated"))?;
    let compatible = i32::from_be_bytes([header[12], header[13], header[14], header[15]]);
    if compatible > XERIAL_VERSION {
        return Err(snappy_malformed(
            "xerial stream needs a newer format version",
        ));
    }
    Ok(&input[XERIAL_HEADER_SIZE..])
}

fn split_block_length(input: &[u8]) -> Result<(usize, &[u8]), CompressionError> {
    let (length, tail) = input
        .split_first_chunk::<4>()
        .ok_or_else(|| snappy_malformed("block length is truncated"))?;
    let length = usize::try_from(i32::from_be_bytes(*length))
        .map_err(|_| snappy_malformed("block length is negative"))?;
    Ok((length, tail))
}

/// Appends one raw snappy block to `output` once its declared length fits the budget left.
fn decompress_snappy_block(
    block: &[u8],
    max_output: usize,
    output: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let length = snap::raw::decompress_len(block).map_err(snappy_error)?;
    let budget = max_output.saturating_sub(output.len());
    if length > budget {
        return Err(CompressionError::OutputTooLarge {
            codec: Compression::Snappy,
            limit: max_output,
        });
    }
    let start = output.len();
    output.resize(start + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut output[start..])
        .map_err(snappy_error)?;
    output.truncate(start + written);
    Ok(())
}

fn compress_snappy(input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let mut output = Vec::with_capacity(XERIAL_HEADER_SIZE + input.len() / 2);
    output.extend_from_slice(&XERIAL_MAGIC);
    output.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    output.extend_from_slice(&XERIAL_MIN_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let block = encoder
            .compress_vec(chunk)
            .map_err(|e| CompressionError::Compress {
                codec: Compression::Snappy,
                source: e.into(),
            })?;
        // A block holds at most 32 KiB of input, so its compressed size always fits an i32.
        let length = i32::try_from(block.len()).map_err(|_| CompressionError::Compress {
            codec: Compression::Snappy,
            source: io::Error::other("compressed block does not fit an i32 length"),
        })?;
        output.extend_from_slice(&length.to_be_bytes());
        output.extend_from_slice(&block);
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Compressible but not trivial: a repeating pattern with a counter.
    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_one_mebibyte_inputs() {
        for codec in ALL {
            for len in [0, 1, 100, 32 * 1024, 32 * 1024 + 1, 1 << 20] {
                let input = sample(len);
                let compressed = compress(codec, &input).unwrap();
                let output = decompress(codec, &compressed, input.len()).unwrap();
                assert_eq!(output, input, "{codec:?} with {len} bytes");
            }
        }
    }

    #[test]
    fn output_at_exactly_the_limit_is_accepted_and_one_byte_more_refused() {
        for codec in ALL {
            let input = sample(10_000);
            let compressed = compress(codec, &input).unwrap();
            assert!(decompress(codec, &compressed, 10_000).is_ok(), "{codec:?}");
            let error = decompress(codec, &compressed, 9_999).unwrap_err();
            assert!(
                matches!(error, CompressionError::OutputTooLarge { limit: 9_999, .. }),
                "{codec:?}: {error}"
            );
        }
    }

    #[test]
    fn bombs_are_refused_for_every_codec() {
        // 16 MiB of zeros compresses to a few KiB with every codec.
        let zeros = vec![0u8; 16 << 20];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bomb = compress(codec, &zeros).unwrap();
            assert!(
                bomb.len() < 1 << 20,
                "{codec:?} bomb is {} bytes",
                bomb.len()
            );
            let error = decompress(codec, &bomb, 1 << 20).unwrap_err();
            assert!(
                matches!(error, CompressionError::OutputTooLarge { .. }),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn zstd_frame_without_content_size_decodes() {
        let input = sample(100_000);
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.write_all(&input).unwrap();
        let frame = encoder.finish().unwrap();
        assert_eq!(
            decompress(Compression::Zstd, &frame, 100_000).unwrap(),
            input
        );
        assert!(decompress(Compression::Zstd, &frame, 99_999).is_err());
    }

    #[test]
    fn snappy_compression_writes_the_xerial_header_of_the_java_client() {
        let compressed = compress(Compression::Snappy, b"hello").unwrap();
        assert_eq!(
            &compressed[..16],
            &[
                0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1
            ]
        );
        let block_length = i32::from_be_bytes([
            compressed[16],
            compressed[17],
            compressed[18],
            compressed[19],
        ]);
        assert_eq!(block_length as usize, compressed.len() - 20);
    }

    #[test]
    fn raw_snappy_decodes() {
        let input = sample(70_000);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, input.len()).unwrap(),
            input
        );
        assert!(matches!(
            decompress(Compression::Snappy, &raw, input.len() - 1),
            Err(CompressionError::OutputTooLarge { .. })
        ));
    }

    #[test]
    fn xerial_snappy_with_several_blocks_and_concatenated_streams_decodes() {
        let first = sample(80_000);
        let second = b"second stream".to_vec();
        let mut framed = compress(Compression::Snappy, &first).unwrap();
        framed.extend(compress(Compression::Snappy, &second).unwrap());
        let output = decompress(Compression::Snappy, &framed, 1 << 20).unwrap();
        assert_eq!(output, [first, second].concat());
    }

    #[test]
    fn xerial_header_alone_is_empty() {
        let header = compress(Compression::Snappy, b"").unwrap();
        assert_eq!(header.len(), XERIAL_HEADER_SIZE);
        assert!(
            decompress(Compression::Snappy, &header, 0)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_xerial_streams_are_errors() {
        let good = compress(Compression::Snappy, &sample(1000)).unwrap();
        // Truncated block, truncated length, negative length, truncated header.
        let cases: Vec<Vec<u8>> = vec![
            good[..good.len() - 1].to_vec(),
            [&good[..], &[0, 0]].concat(),
            [&good[..16], &(-1i32).to_be_bytes()[..]].concat(),
            good[..12].to_vec(),
        ];
        for case in cases {
            assert!(decompress(Compression::Snappy, &case, 1 << 20).is_err());
        }
    }

    #[test]
    fn garbage_is_an_error_for_every_compressed_codec() {
        let garbage = b"this is not compressed data at all".to_vec();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(decompress(codec, &garbage, 1 << 20).is_err(), "{codec:?}");
        }
    }

    #[test]
    fn error_messages_name_the_codec_in_lowercase() {
        let error = decompress(Compression::Gzip, b"nope", 10).unwrap_err();
        assert_eq!(error.to_string(), "gzip decompression failed");
        let error = decompress(Compression::None, b"too long", 3).unwrap_err();
        assert_eq!(
            error.to_string(),
            "none output exceeds the limit of 3 bytes"
        );
    }
}
