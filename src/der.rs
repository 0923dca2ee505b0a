//! The little DER (ITU-T X.690) this tool reads and writes, in one place: the DKIM key's fields
//! and the public key it publishes (`render/dkim/key.rs`), and the relay certificate's names and
//! expiry that `check --smtp` shows (`check/certificate.rs`). Definite lengths only, as DER
//! requires; anything else reads as `None`, never a panic.

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// A reader over a run of elements: each call takes the next one off the front.
#[derive(Debug, Clone, Copy)]
pub struct Der<'a>(pub &'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and contents, whatever its type.
    pub fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            bytes.iter().fold(0, |v, &b| v << 8 | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.0 = after;
        Some((tag, contents))
    }

    /// The contents of the next element, which must have `tag` (else `None`, nothing taken).
    pub fn take(&mut self, tag: u8) -> Option<&'a [u8]> {
        let mut ahead = *self;
        let (found, contents) = ahead.any()?;
        (found == tag).then(|| {
            *self = ahead;
            contents
        })
    }

    /// The tag of the next element, if there is one.
    pub fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An element with `tag` and `contents`.
pub fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_and_long() {
        assert_eq!(tlv(OCTET_STRING, &[7; 3]), [4, 3, 7, 7, 7]);
        assert_eq!(&tlv(OCTET_STRING, &[0; 300])[..4], [4, 0x82, 1, 44]);
        let long = tlv(SEQUENCE, &[0; 300]);
        assert_eq!(Der(&long).take(SEQUENCE).map(<[u8]>::len), Some(300));
        assert_eq!(Der(&long[..100]).take(SEQUENCE), None, "cut short");
        let mut d = Der(&long);
        assert_eq!(d.take(INTEGER), None, "another tag takes nothing");
        assert_eq!(d.peek(), Some(SEQUENCE));
    }
}
