//! One key per mailbox, however its address is spelled, and the ASCII form of an IDN domain. The
//! key is what duplicates, the result log's history and suppression compare; the ASCII form is how
//! an address at an IDN domain goes out through a relay without SMTPUTF8.

/// A key for an address, for duplicate, result-log and suppression lookups in an
/// [`AddressIndex`](crate::address_index::AddressIndex): 8 bytes per address instead of the
/// address. One mailbox spelled several ways has one key:
///
/// * the domain is normalised as DNS sees it: IDNA to ASCII (UTS #46: Unicode case folded,
///   NFC, punycode), so `a@exämple.com`, `a@EXÄMPLE.com` and `a@xn--exmple-cua.com` are one
///   mailbox. A domain IDNA refuses (it is then an invalid address anyway) is only lower-cased;
/// * the local part is compared ignoring ASCII case. RFC 5321 lets the receiving host treat it as
///   case-sensitive, but no provider does, and two rows differing only in its case are almost
///   always one person typed twice; anything else in it (dots, `+tags`, non-ASCII) is left as is.
///
/// The idna crate is the one lettre already uses to validate such domains.
pub fn address_key(email: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    let (local, domain) = mailbox_parts(email);
    for b in local.bytes() {
        b.to_ascii_lowercase().hash(&mut hasher);
    }
    if let Some(domain) = domain {
        b'@'.hash(&mut hasher);
        for b in domain.bytes() {
            b.to_ascii_lowercase().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The mailbox as one string, by the rules of [`address_key`] (`Zoe@EXÄMPLE.com` →
/// `zoe@xn--exmple-cua.com`): for what must hash alike on every machine and in every version
/// (`--shard`), which `address_key`'s in-process hasher does not promise.
pub fn normalised_address(email: &str) -> String {
    let (local, domain) = mailbox_parts(email);
    let mut text = local.to_ascii_lowercase();
    if let Some(domain) = domain {
        text.push('@');
        text.push_str(&domain.to_ascii_lowercase());
    }
    text
}

/// The local part and the domain (in its ASCII form when IDNA takes it), trimmed.
fn mailbox_parts(email: &str) -> (&str, Option<std::borrow::Cow<'_, str>>) {
    let email = email.trim();
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let ascii = ascii_domain(domain).unwrap_or(std::borrow::Cow::Borrowed(domain));
            (local, Some(ascii))
        }
        None => (email, None),
    }
}

/// A domain as DNS sees it: IDNA to ASCII (UTS #46: case folded, NFC, punycode), e.g. `exämple.com`
/// → `xn--exmple-cua.com`; `None` when IDNA refuses it. For [`address_key`], and for sending to an
/// IDN domain through a relay without SMTPUTF8 (`render` writes such an address in this form).
pub fn ascii_domain(domain: &str) -> Option<std::borrow::Cow<'_, str>> {
    idna::domain_to_ascii_cow(domain.as_bytes(), idna::AsciiDenyList::EMPTY).ok()
}

/// `address` with an IDN domain in its ASCII form (RFC 5890 A-labels) when the local part is
/// ASCII, so that a message to or from it needs no SMTPUTF8; otherwise as it is.
pub fn ascii_address(address: lettre::Address) -> lettre::Address {
    if address.domain().is_ascii() || !address.user().is_ascii() {
        return address;
    }
    match ascii_domain(address.domain()).map(|d| lettre::Address::new(address.user(), d)) {
        Some(Ok(ascii)) => ascii,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_mailbox_whatever_the_spelling_of_its_domain() {
        let key = address_key("a@exämple.com");
        for same in [
            "a@xn--exmple-cua.com",
            "a@EXÄMPLE.com",
            "A@XN--EXMPLE-CUA.COM",
            "a@exa\u{308}mple.com",
            " a@exämple.com ",
        ] {
            assert_eq!(address_key(same), key, "{same}");
        }
        for other in [
            "b@exämple.com",
            "a@example.com",
            "a.b@exämple.com",
            "a@exämple.com.",
        ] {
            assert_ne!(address_key(other), key, "{other}");
        }
        assert_eq!(
            address_key("Zoe@Example.COM"),
            address_key("zoe@example.com")
        );
        // `xn--a` is not valid punycode: IDNA refuses the domain, which is then only lower-cased.
        assert!(idna::domain_to_ascii("xn--a.example").is_err());
        assert_eq!(
            address_key("a@XN--A.example"),
            address_key("a@xn--a.example")
        );
        assert_eq!(address_key("[127.0.0.1]"), address_key("[127.0.0.1]"));
        assert_eq!(
            normalised_address(" Zoe@EXÄMPLE.com"),
            "zoe@xn--exmple-cua.com"
        );
        assert_eq!(normalised_address("A@XN--A.example"), "a@xn--a.example");
    }
}
