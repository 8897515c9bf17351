//! `aws-chunked` bodies (`x-amz-content-sha256: STREAMING-…`): what SDKs send when they
//! sign an upload chunk by chunk or put a checksum in a trailer.
//!
//! ```text
//! <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n … 0[;…]\r\n[<trailer>\r\n …]\r\n
//! ```
//!
//! Fort checks the seed signature (the request's own) and the decoded length; it does
//! not check each chunk's signature, which guards against a tamperer on the path, not
//! against an unknown caller.

/// Why a body is not valid aws-chunked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("The aws-chunked body is malformed: {0}.")]
    Malformed(&'static str),
    #[error("The decoded body is larger than allowed.")]
    TooLarge,
}

/// The longest chunk header line accepted (size, extensions, signature).
const MAX_LINE: usize = 4096;

/// Decodes an aws-chunked body into its payload, refusing one longer than `max` bytes.
pub fn decode(body: &[u8], max: usize) -> Result<Vec<u8>, ChunkError> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let (line, after) = split_line(rest)?;
        let size_text = line.split(|b| *b == b';').next().unwrap_or(&[]);
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| ChunkError::Malformed("chunk size is not text"))?
            .trim();
        if size_text.is_empty() || size_text.len() > 16 {
            return Err(ChunkError::Malformed("bad chunk size"));
        }
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ChunkError::Malformed("bad chunk size"))?;
        if size == 0 {
            // trailers follow (checksums), then an empty line; both may be cut short
            let mut trailers = after;
            while !trailers.is_empty() {
                let (line, next) = split_line(trailers)?;
                if line.is_empty() {
                    break;
                }
                trailers = next;
            }
            return Ok(out);
        }
        if out.len().saturating_add(size) > max {
            return Err(ChunkError::TooLarge);
        }
        if after.len() < size + 2 {
            return Err(ChunkError::Malformed("chunk shorter than its size"));
        }
        let (data, tail) = after.split_at(size);
        if !tail.starts_with(b"\r\n") {
            return Err(ChunkError::Malformed("chunk not followed by CRLF"));
        }
        out.extend_from_slice(data);
        rest = &tail[2..];
    }
}

/// The line before the next CRLF, and what follows it. A last line without CRLF counts.
fn split_line(input: &[u8]) -> Result<(&[u8], &[u8]), ChunkError> {
    let window = &input[..input.len().min(MAX_LINE + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(at) => Ok((&input[..at], &input[at + 2..])),
        None if input.len() <= MAX_LINE => Ok((input, &[])),
        None => Err(ChunkError::Malformed("line too long")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(payload: &[u8], chunk: usize, signed: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let ext = if signed {
            ";chunk-signature=0123456789abcdef"
        } else {
            ""
        };
        for c in payload.chunks(chunk.max(1)) {
            out.extend(format!("{:x}{ext}\r\n", c.len()).bytes());
            out.extend_from_slice(c);
            out.extend(b"\r\n");
        }
        out.extend(format!("0{ext}\r\n").bytes());
        if trailer {
            out.extend(b"x-amz-checksum-crc32:AAAAAA==\r\n");
        }
        out.extend(b"\r\n");
        out
    }

    #[test]
    fn decodes_signed_and_trailer_forms() {
        let payload = b"hello, chunked world";
        for (signed, trailer) in [(true, false), (false, true), (true, true), (false, false)] {
            assert_eq!(
                decode(&encode(payload, 7, signed, trailer), 1 << 20).unwrap(),
                payload
            );
        }
        assert_eq!(decode(b"0\r\n\r\n", 10).unwrap(), b"");
        assert_eq!(decode(b"0", 10).unwrap(), b"");
    }

    #[test]
    fn refuses_malformed_bodies() {
        assert!(decode(b"", 10).is_err());
        assert!(decode(b"zz\r\nab\r\n0\r\n\r\n", 10).is_err());
        assert!(decode(b"5\r\nab\r\n0\r\n\r\n", 10).is_err());
        assert!(decode(b"2\r\nabXX0\r\n\r\n", 10).is_err());
        assert_eq!(
            decode(b"b\r\nhello world\r\n0\r\n\r\n", 10),
            Err(ChunkError::TooLarge)
        );
        assert!(decode(b"ffffffffffffffffff\r\n", 10).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(payload in proptest::collection::vec(any::<u8>(), 0..2000),
                       chunk in 1usize..300, signed: bool, trailer: bool) {
            prop_assert_eq!(decode(&encode(&payload, chunk, signed, trailer), 1 << 20).unwrap(), payload);
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&body, 100);
        }
    }
}
