//! What `campaign check --smtp` says about the relay's certificate: subject, issuer and expiry,
//! read from the DER bytes (RFC 5280 §4.1) with the crate's one DER reader ([`crate::der`]) over
//! the few fields needed, rather than a full X.509 parser as a new dependency. Anything unexpected makes the walk give up
//! (`None`); the check then says it could not read the certificate, and nothing else changes.

use chrono::{NaiveDateTime, TimeZone, Utc};

use crate::der::{Der, INTEGER, OID, SEQUENCE, SET};

/// The facts shown about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The subject as `CN=…, O=…` (RFC 4514 style, most significant last as written).
    pub subject: String,
    pub issuer: String,
    pub not_after: chrono::DateTime<Utc>,
}

impl Certificate {
    /// Reads `der` (one X.509 certificate).
    pub fn parse(der: &[u8]) -> Option<Certificate> {
        let certificate = Der(der).take(SEQUENCE)?;
        let mut tbs = Der(Der(certificate).take(SEQUENCE)?);
        tbs.take(0xA0); // [0] version, when present
        tbs.take(INTEGER)?; // serialNumber
        tbs.take(SEQUENCE)?; // signature algorithm
        let issuer = tbs.take(SEQUENCE)?;
        let mut validity = Der(tbs.take(SEQUENCE)?);
        let subject = tbs.take(SEQUENCE)?;
        validity.any()?; // notBefore
        let not_after = validity.any()?;
        Some(Certificate {
            subject: name(subject)?,
            issuer: name(issuer)?,
            not_after: time(not_after)?,
        })
    }
}

/// A Name (a sequence of sets of type-and-value pairs) as `CN=…, O=…`.
fn name(der: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    let mut sets = Der(der);
    while !sets.is_empty() {
        let mut set = Der(sets.take(SET)?);
        while !set.is_empty() {
            let mut pair = Der(set.take(SEQUENCE)?);
            let oid = pair.take(OID)?;
            let (_, text) = pair.any()?;
            let text = String::from_utf8_lossy(text);
            parts.push(format!("{}={text}", attribute(oid)));
        }
    }
    Some(parts.join(", "))
}

/// The short name of an attribute type (RFC 4514 §3), or its dotted OID.
fn attribute(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0A] => "O".into(),
        [0x55, 0x04, 0x0B] => "OU".into(),
        _ => dotted(oid),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut n: u64 = 0;
    for &b in oid {
        n = (n << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            arcs.push(n);
            n = 0;
        }
    }
    let mut parts = match arcs.first() {
        Some(&first) => vec![(first / 40).min(2), first - 40 * (first / 40).min(2)],
        None => Vec::new(),
    };
    parts.extend(arcs.iter().skip(1));
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time((tag, text): (u8, &[u8])) -> Option<chrono::DateTime<Utc>> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let full = match tag {
        0x17 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            format!("{}{text}", if yy < 50 { "20" } else { "19" })
        }
        0x18 => text.to_string(),
        _ => return None,
    };
    let naive = NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate made by `openssl req -x509 -subj "/CN=relay.test/O=Acme" -days 30` would do;
    /// this one is built here: the fields the walk reads, in their places.
    fn der(subject_cn: &str, not_after: &[u8]) -> Vec<u8> {
        use crate::der::tlv;
        let rdn = |oid: &[u8], v: &str| {
            tlv(
                0x31,
                &tlv(0x30, &[tlv(0x06, oid), tlv(0x0C, v.as_bytes())].concat()),
            )
        };
        let subject = tlv(
            0x30,
            &[rdn(&[0x55, 4, 3], subject_cn), rdn(&[0x55, 4, 10], "Acme")].concat(),
        );
        let issuer = tlv(0x30, &rdn(&[0x55, 4, 3], "Acme CA"));
        let validity = tlv(
            0x30,
            &[tlv(0x17, b"250101000000Z"), tlv(0x17, not_after)].concat(),
        );
        let tbs = [
            tlv(0xA0, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            tlv(0x30, &tlv(0x06, &[0x2A, 0x86, 0x48])),
            issuer,
            validity,
            subject,
            tlv(0x30, &[0; 200]), // the key: long enough for a two-octet length
        ]
        .concat();
        tlv(0x30, &tlv(0x30, &tbs))
    }

    #[test]
    fn reads_subject_issuer_and_expiry() {
        let cert = Certificate::parse(&der("relay.test", b"491231235959Z")).unwrap();
        assert_eq!(cert.subject, "CN=relay.test, O=Acme");
        assert_eq!(cert.issuer, "CN=Acme CA");
        assert_eq!(cert.not_after.to_rfc3339(), "2049-12-31T23:59:59+00:00");
    }

    #[test]
    fn gives_up_on_what_is_not_a_certificate() {
        assert_eq!(Certificate::parse(b"not DER at all"), None);
        let mut cut = der("relay.test", b"491231235959Z");
        cut.truncate(40);
        assert_eq!(Certificate::parse(&cut), None);
    }

    #[test]
    fn names_unknown_attributes_by_oid() {
        assert_eq!(
            attribute(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]),
            "1.2.840.113549"
        );
    }
}
