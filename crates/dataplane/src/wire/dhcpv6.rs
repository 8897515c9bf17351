//! DHCPv6 (RFC 8415) messages between client and server: a message type, a
//! transaction id and options (code, length, data). Hand-written like DHCPv4's view:
//! the engine reads a few options of a client's message and writes a short reply, with
//! no allocation beyond the output buffer. (The crate's tests check both directions
//! against an independent implementation, `dhcproto`.)

use super::{Error, Result, read_u16, read_u32};

pub const CLIENT_PORT: u16 = 546;
pub const SERVER_PORT: u16 = 547;

/// Message type and transaction id.
pub const HEADER_LEN: usize = 4;

pub mod message {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const INFORMATION_REQUEST: u8 = 11;
}

pub mod option {
    pub const CLIENT_ID: u16 = 1;
    pub const SERVER_ID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IA_ADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
}

pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NOT_ON_LINK: u16 = 4;
}

/// The fixed part of an IA_NA option: IAID, T1, T2.
pub const IA_NA_LEN: usize = 12;

/// A view of a DHCPv6 message.
#[derive(Debug, Clone)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    pub fn new_unchecked(buffer: T) -> Message<T> {
        Message { buffer }
    }

    /// At least the header. Options are checked as they are read ([`Message::options`]).
    pub fn new_checked(buffer: T) -> Result<Message<T>> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error);
        }
        Ok(Message { buffer })
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    pub fn transaction_id(&self) -> [u8; 3] {
        let b = self.buffer.as_ref();
        [b[1], b[2], b[3]]
    }

    pub fn options(&self) -> Options<'_> {
        Options {
            rest: &self.buffer.as_ref()[HEADER_LEN..],
        }
    }

    /// The first option of `code`; `Err` if the options are malformed before it.
    pub fn option(&self, code: u16) -> Result<Option<&[u8]>> {
        find(self.options(), code)
    }
}

/// The first option of `code` among `options`.
pub fn find(options: Options<'_>, code: u16) -> Result<Option<&[u8]>> {
    for o in options {
        let (c, data) = o?;
        if c == code {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// Options in order; one running past the end ends the iteration with `Err`.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    /// The options encapsulated in an option's data (after `skip` fixed bytes: 12 for
    /// IA_NA, 24 for IA Address).
    pub fn inside(data: &'a [u8], skip: usize) -> Result<Options<'a>> {
        Ok(Options {
            rest: data.get(skip..).ok_or(Error)?,
        })
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < 4 {
            self.rest = &[];
            return Some(Err(Error));
        }
        let code = read_u16(self.rest, 0);
        let len = usize::from(read_u16(self.rest, 2));
        let Some(data) = self.rest.get(4..4 + len) else {
            self.rest = &[];
            return Some(Err(Error));
        };
        self.rest = &self.rest[4 + len..];
        Some(Ok((code, data)))
    }
}

/// The IAID of an IA_NA option's data.
pub fn ia_na_iaid(data: &[u8]) -> Result<u32> {
    if data.len() < IA_NA_LEN {
        return Err(Error);
    }
    Ok(read_u32(data, 0))
}

/// Appends options to a message under construction.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// Starts a message of `msg_type` with `transaction_id` at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>, msg_type: u8, transaction_id: [u8; 3]) -> Writer<'a> {
        out.push(msg_type);
        out.extend_from_slice(&transaction_id);
        Writer { out }
    }

    /// One option; data longer than 65,535 bytes is cut there (the engine writes short
    /// ones).
    pub fn option(&mut self, code: u16, data: &[u8]) -> &mut Self {
        let data = &data[..data.len().min(usize::from(u16::MAX))];
        self.out.extend_from_slice(&code.to_be_bytes());
        self.out
            .extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
        self.out.extend_from_slice(data);
        self
    }

    /// An option whose data is written by `f` (encapsulated options).
    pub fn nested(&mut self, code: u16, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        let start = self.out.len();
        self.out.extend_from_slice(&code.to_be_bytes());
        self.out.extend_from_slice(&[0, 0]);
        f(self.out);
        let len = u16::try_from(self.out.len() - start - 4).unwrap_or(u16::MAX);
        self.out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        self
    }
}

/// Appends one option (code, length, data) to `out`.
pub fn push_option(out: &mut Vec<u8>, code: u16, data: &[u8]) {
    let data = &data[..data.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_and_refuses_overruns() {
        // Solicit, xid 0a0b0c, client id (4 bytes), elapsed time
        let b = [
            1, 0x0a, 0x0b, 0x0c, 0, 1, 0, 4, 0, 3, 0, 1, 0, 8, 0, 2, 0, 0,
        ];
        let m = Message::new_checked(&b[..]).unwrap();
        assert_eq!(m.msg_type(), message::SOLICIT);
        assert_eq!(m.transaction_id(), [0x0a, 0x0b, 0x0c]);
        assert_eq!(m.option(option::CLIENT_ID), Ok(Some(&[0, 3, 0, 1][..])));
        assert_eq!(m.option(option::IA_NA), Ok(None));
        // the last option's length runs past the end
        let m = Message::new_checked(&b[..17]).unwrap();
        assert!(m.option(option::IA_NA).is_err());
        assert!(Message::new_checked(&b[..3]).is_err());
    }

    #[test]
    fn writes_nested_options() {
        let mut out = Vec::new();
        Writer::new(&mut out, message::REPLY, [1, 2, 3])
            .option(option::SERVER_ID, &[9, 9])
            .nested(option::IA_NA, |o| {
                o.extend_from_slice(&[0; 12]);
                push_option(o, option::IA_ADDR, &[7; 24]);
            });
        let m = Message::new_checked(&out[..]).unwrap();
        let ia = m.option(option::IA_NA).unwrap().unwrap();
        assert_eq!(ia.len(), 12 + 4 + 24);
        let addr = find(Options::inside(ia, IA_NA_LEN).unwrap(), option::IA_ADDR)
            .unwrap()
            .unwrap();
        assert_eq!(addr, &[7; 24][..]);
        assert_eq!(ia_na_iaid(ia), Ok(0));
    }
}
