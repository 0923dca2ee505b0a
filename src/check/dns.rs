//! `campaign check --dns`: looks up the records receivers use to authenticate the campaign's mail and
//! says what is missing or wrong, with the exact record to publish.
//!
//! * **SPF**: a TXT record starting with `v=spf1` at the From domain (the envelope sender is the From
//!   address, so this is also the aligned SPF domain). Missing, more than one (a permerror), or
//!   ending in `+all` → warning.
//! * **DKIM** (with `[dkim]`): the TXT record at `<selector>._domainkey.<domain>` must hold the public
//!   key of the configured private key. The public key is derived from the PEM (RSA: PKCS#8 or
//!   PKCS#1, compared with the record's SubjectPublicKeyInfo or PKCS#1 key; Ed25519: PKCS#8,
//!   compared with the record's raw 32-byte key, RFC 8463). A missing record, a revoked key
//!   (empty `p=`), another key, or a key of the wrong type is an **error**: every signature made with
//!   this key would fail verification, which is worse than not signing (DMARC fails, and with
//!   `p=reject` the mail bounces). More than one key record is a warning.
//! * **DMARC**: the `v=DMARC1` TXT record at `_dmarc.<From domain>`, or, as in DMARCbis' tree walk,
//!   at the closest parent domain that has one. Missing → warning with a `p=none` record to publish;
//!   found → a note with the policy (`sp=` for a subdomain that inherits it); `adkim=s` with a DKIM
//!   domain other than the From domain → warning.
//!
//! A lookup that fails (timeout, SERVFAIL, unreachable resolver) is an error: the record could not
//! be checked. The resolver is the system's (`/etc/resolv.conf`) unless `--resolver` names one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use crate::campaign::{Campaign, DkimAlgorithm, DkimSettings};

use super::Problem;

/// Where and how to look records up.
#[derive(Debug, Clone)]
pub struct DnsOptions {
    /// The DNS server to ask; `None`: the system resolver.
    pub resolver: Option<SocketAddr>,
    /// How long one query may take before it is retried (twice in all).
    pub timeout: Duration,
}

impl Default for DnsOptions {
    fn default() -> DnsOptions {
        DnsOptions {
            resolver: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Parses `--resolver`: `IP`, `IP:PORT` or `[IPv6]:PORT` (port 53 when left out).
pub fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            format!(
                "{text:?} is not a resolver address: write an IP address, IP:PORT or [IPv6]:PORT"
            )
        })
}

/// Looks up SPF, DKIM and DMARC for the campaign and returns what it found.
pub fn check(campaign: &Campaign, options: &DnsOptions) -> Vec<Problem> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return vec![Problem::error(format!("DNS checks: cannot start: {e}"))],
    };
    runtime.block_on(async {
        let dns = match Dns::new(options) {
            Ok(dns) => dns,
            Err(e) => return vec![Problem::error(e)],
        };
        let from = campaign
            .from_domain()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let spf_host = campaign.smtp.as_ref().map(|s| s.host.as_str());
        let (spf, dkim, dmarc) = tokio::join!(
            check_spf(&dns, &from, spf_host),
            async {
                match &campaign.dkim {
                    Some(settings) => check_dkim(&dns, settings).await,
                    None => Vec::new(),
                }
            },
            check_dmarc(
                &dns,
                &from,
                campaign.dkim.as_ref().map(|d| d.domain.as_str())
            ),
        );
        [spf, dkim, dmarc].concat()
    })
}

// ----------------------------------------------------------------- resolver ---

/// A TXT lookup: the records (each one's strings joined), or none.
type Txt = Result<Vec<String>, String>;

struct Dns {
    resolver: TokioResolver,
    /// "the system resolver" or the address, for messages.
    name: String,
}

impl Dns {
    fn new(options: &DnsOptions) -> Result<Dns, String> {
        let provider = TokioRuntimeProvider::default();
        let (builder, name) = match options.resolver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                let config = ResolverConfig::from_parts(None, Vec::new(), vec![server]);
                (
                    Resolver::builder_with_config(config, provider),
                    addr.to_string(),
                )
            }
            None => (
                Resolver::builder(provider).map_err(|e| {
                    format!(
                        "DNS checks: cannot read the system resolver configuration: {e}; name a \
                         resolver with --resolver IP[:PORT]"
                    )
                })?,
                "the system resolver".to_string(),
            ),
        };
        let mut opts = ResolverOpts::default();
        opts.timeout = options.timeout;
        opts.attempts = 2;
        opts.ndots = 0;
        let resolver = builder
            .with_options(opts)
            .build()
            .map_err(|e| format!("DNS checks: cannot set up the resolver: {e}"))?;
        Ok(Dns { resolver, name })
    }

    /// The TXT records at `name` (an empty list when the name or the records do not exist).
    async fn txt(&self, name: &str) -> Txt {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!(
                "could not look up the TXT records of {name} from {}: {e}",
                self.name
            )),
        }
    }
}

fn lookup_failed(what: &str, error: String) -> Problem {
    Problem::error(format!("{what} not checked: {error}"))
        .fix("check the resolver (--resolver IP[:PORT]) and the network, then run again")
}

/// A TXT record in zone-file syntax, split into strings of at most 255 characters.
pub fn zone_record(name: &str, value: &str) -> String {
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect();
    format!("{name}. IN TXT {}", strings.join(" "))
}

// ---------------------------------------------------------------------- SPF ---

async fn check_spf(dns: &Dns, domain: &str, smtp_host: Option<&str>) -> Vec<Problem> {
    match dns.txt(domain).await {
        Ok(records) => spf_problems(domain, &records, smtp_host),
        Err(e) => vec![lookup_failed("SPF", e)],
    }
}

/// What the TXT records at the From domain say about SPF.
pub fn spf_problems(domain: &str, records: &[String], smtp_host: Option<&str>) -> Vec<Problem> {
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| {
            let lower = r.trim().to_ascii_lowercase();
            lower == "v=spf1" || lower.starts_with("v=spf1 ")
        })
        .collect();
    match spf.as_slice() {
        [] => {
            let (value, hint) = match smtp_host {
                Some(host) => (
                    format!("v=spf1 a:{host} ~all"),
                    format!(
                        " (if your mail provider documents an include: for SPF, use it instead of \
                         a:{host})"
                    ),
                ),
                None => (
                    "v=spf1 include:<your mail provider's SPF domain> ~all".to_string(),
                    String::new(),
                ),
            };
            vec![
                Problem::warning(format!("no SPF record at {domain}"))
                    .why(
                        "receivers cannot tell which servers may send for the domain; Gmail and \
                         Yahoo require SPF or DKIM from every sender, and both from bulk senders",
                    )
                    .fix(format!("publish {}{hint}", zone_record(domain, &value))),
            ]
        }
        [record] => {
            let last = record.split_whitespace().last().unwrap_or("");
            if last.eq_ignore_ascii_case("+all") || last.eq_ignore_ascii_case("all") {
                vec![
                    Problem::warning(format!(
                        "the SPF record at {domain} ends in {last}: any server may send as it"
                    ))
                    .why("an SPF record that allows everyone authenticates nothing")
                    .fix("end it with ~all (or -all) after the mechanisms of your real senders"),
                ]
            } else {
                vec![Problem::note(format!("SPF at {domain}: {record}"))]
            }
        }
        _ => vec![
            Problem::warning(format!(
                "{} SPF records at {domain}; SPF allows exactly one",
                spf.len()
            ))
            .why("with more than one v=spf1 record SPF evaluates to permerror, as if there were none")
            .fix("merge them into one v=spf1 record"),
        ],
    }
}

// --------------------------------------------------------------------- DKIM ---

/// The public half of the configured DKIM key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// Derives the public key from the PEM private key.
    pub fn from_private_pem(algorithm: DkimAlgorithm, pem: &str) -> Result<PublicKey, String> {
        match algorithm {
            DkimAlgorithm::RsaSha256 => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                use rsa::pkcs8::DecodePrivateKey;
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
                    .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
                    .map_err(|e| {
                        format!(
                            "is not an RSA private key in PEM (PKCS#8 \"BEGIN PRIVATE KEY\" or \
                             PKCS#1 \"BEGIN RSA PRIVATE KEY\"): {e}"
                        )
                    })?;
                Ok(PublicKey::Rsa(key.to_public_key()))
            }
            DkimAlgorithm::Ed25519Sha256 => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| {
                    format!(
                        "is not an Ed25519 private key in PKCS#8 PEM (\"BEGIN PRIVATE KEY\"): {e}"
                    )
                })?;
                Ok(PublicKey::Ed25519(key.verifying_key().to_bytes()))
            }
        }
    }

    /// The `k=` tag value.
    fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "rsa",
            PublicKey::Ed25519(_) => "ed25519",
        }
    }

    /// The `p=` value: base64 of the SubjectPublicKeyInfo (RSA) or of the raw key (Ed25519).
    pub fn p_value(&self) -> String {
        match self {
            PublicKey::Rsa(key) => {
                use rsa::pkcs8::EncodePublicKey;
                let der = key
                    .to_public_key_der()
                    .expect("an RSA public key always encodes");
                BASE64.encode(der.as_bytes())
            }
            PublicKey::Ed25519(raw) => BASE64.encode(raw),
        }
    }

    /// The whole TXT record value to publish.
    pub fn record_value(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.kind(), self.p_value())
    }

    /// Whether the `p=` bytes of a record hold this key.
    fn matches(&self, p: &[u8]) -> bool {
        match self {
            PublicKey::Rsa(key) => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                use rsa::pkcs8::DecodePublicKey;
                rsa::RsaPublicKey::from_public_key_der(p)
                    .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(p))
                    .is_ok_and(|published| &published == key)
            }
            PublicKey::Ed25519(raw) => p == raw,
        }
    }

    /// The modulus size of an RSA key.
    fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa(key) => {
                use rsa::traits::PublicKeyParts;
                Some(key.size() * 8)
            }
            PublicKey::Ed25519(_) => None,
        }
    }
}

/// The tags of a DKIM key record (`tag=value; …`), names lower-cased.
fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

fn tag<'t>(tags: &'t [(String, String)], name: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn check_dkim(dns: &Dns, settings: &DkimSettings) -> Vec<Problem> {
    let key = match PublicKey::from_private_pem(settings.algorithm, &settings.key_pem) {
        Ok(key) => key,
        Err(e) => {
            return vec![
                Problem::error(format!(
                    "the [dkim] private key from {} {e}",
                    settings.key_source
                ))
                .fix(
                    "make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` \
                     (or `-algorithm ed25519` with algorithm = \"ed25519-sha256\")",
                ),
            ];
        }
    };
    let name = format!("{}._domainkey.{}", settings.selector, settings.domain);
    match dns.txt(&name).await {
        Ok(records) => dkim_problems(&name, &key, &records),
        Err(e) => vec![lookup_failed("DKIM", e)],
    }
}

/// What the TXT records at the selector's name say about the configured key.
pub fn dkim_problems(name: &str, key: &PublicKey, records: &[String]) -> Vec<Problem> {
    let publish = zone_record(name, &key.record_value());
    let mut problems = Vec::new();
    if let Some(bits) = key.rsa_bits()
        && bits < 1024
    {
        problems.push(
            Problem::warning(format!(
                "the DKIM key has {bits} bits; receivers ignore RSA keys under 1024 bits"
            ))
            .fix("make a 2048-bit key and publish its record"),
        );
    }
    let keys: Vec<Vec<(String, String)>> = records
        .iter()
        .map(|r| tags(r))
        .filter(|t| tag(t, "p").is_some())
        .collect();
    if keys.is_empty() {
        problems.push(
            Problem::error(format!("no DKIM key record at {name}"))
                .why(
                    "receivers cannot verify the signature: DKIM fails, and so does DMARC unless \
                     SPF passes aligned",
                )
                .fix(format!("publish {publish}")),
        );
        return problems;
    }
    if keys.len() > 1 {
        problems.push(
            Problem::warning(format!(
                "{} DKIM key records at {name}; receivers may use any one of them",
                keys.len()
            ))
            .fix(format!("keep only {publish}")),
        );
    }
    let verdicts: Vec<Result<(), String>> = keys.iter().map(|t| judge_dkim(t, key)).collect();
    if verdicts.iter().any(Result::is_ok) {
        problems.push(Problem::note(format!(
            "DKIM at {name}: the published key matches the configured private key"
        )));
    } else {
        let reason = verdicts
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_default();
        problems.push(
            Problem::error(format!("the DKIM record at {name} {reason}"))
                .why(
                    "every message signed with the configured key fails DKIM verification, which \
                     fails DMARC and, with p=quarantine or p=reject, sends the mail to spam or \
                     bounces it",
                )
                .fix(format!(
                    "publish {publish} (or configure the private key that belongs to the \
                     published record)"
                )),
        );
    }
    problems
}

/// Whether one key record holds `key`; the error completes "the DKIM record at NAME …".
fn judge_dkim(tags: &[(String, String)], key: &PublicKey) -> Result<(), String> {
    if let Some(v) = tag(tags, "v")
        && v != "DKIM1"
    {
        return Err(format!("has v={v}, not v=DKIM1"));
    }
    let kind = tag(tags, "k").unwrap_or("rsa").to_ascii_lowercase();
    if kind != key.kind() {
        return Err(format!(
            "is for k={kind} keys, but the configured key is {}",
            key.kind()
        ));
    }
    let p: String = tag(tags, "p")
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if p.is_empty() {
        return Err("has an empty p=: the key is revoked".into());
    }
    let bytes = BASE64
        .decode(&p)
        .map_err(|e| format!("has a p= that is not valid base64: {e}"))?;
    if key.matches(&bytes) {
        return Ok(());
    }
    if let PublicKey::Ed25519(raw) = key
        && bytes.len() == 44
        && bytes.ends_with(raw)
    {
        return Err(
            "holds the key as a SubjectPublicKeyInfo; Ed25519 DKIM keys are published as the raw \
             32-byte key (RFC 8463)"
                .into(),
        );
    }
    Err("holds another public key than the one of the configured private key".into())
}

// -------------------------------------------------------------------- DMARC ---

async fn check_dmarc(dns: &Dns, from: &str, dkim_domain: Option<&str>) -> Vec<Problem> {
    // The From domain first, then each parent with at least two labels, at most 8 lookups.
    let labels: Vec<&str> = from.split('.').collect();
    let candidates: Vec<String> = (0..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .take(8)
        .collect();
    for domain in &candidates {
        let name = format!("_dmarc.{domain}");
        match dns.txt(&name).await {
            Ok(records) => {
                let dmarc: Vec<&String> = records
                    .iter()
                    .filter(|r| {
                        let lower = r.trim_start().to_ascii_lowercase();
                        lower.starts_with("v=dmarc1") && {
                            let rest = lower["v=dmarc1".len()..].trim_start();
                            rest.is_empty() || rest.starts_with(';')
                        }
                    })
                    .collect();
                if !dmarc.is_empty() {
                    return dmarc_problems(&name, from, domain != from, &dmarc, dkim_domain);
                }
            }
            Err(e) => return vec![lookup_failed("DMARC", e)],
        }
    }
    vec![
        Problem::warning(format!("no DMARC record at _dmarc.{from}"))
            .why(
                "Gmail and Yahoo require a DMARC record (p=none at least) from bulk senders, and \
                 without one anybody can send mail that claims to come from the domain",
            )
            .fix(format!(
                "publish {} (start with p=none, read the reports, then move to p=quarantine)",
                zone_record(
                    &format!("_dmarc.{from}"),
                    &format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{from}")
                )
            )),
    ]
}

/// What the DMARC record(s) found at `name` say.
pub fn dmarc_problems(
    name: &str,
    from: &str,
    inherited: bool,
    records: &[&String],
    dkim_domain: Option<&str>,
) -> Vec<Problem> {
    if records.len() > 1 {
        return vec![
            Problem::warning(format!(
                "{} DMARC records at {name}; receivers ignore them all",
                records.len()
            ))
            .fix("keep exactly one v=DMARC1 record"),
        ];
    }
    let record = records[0];
    let tags = tags(record);
    let policy = if inherited {
        tag(&tags, "sp").or(tag(&tags, "p"))
    } else {
        tag(&tags, "p")
    };
    let mut problems = Vec::new();
    match policy.map(str::to_ascii_lowercase).as_deref() {
        Some(p @ ("none" | "quarantine" | "reject")) => {
            let whose = if inherited {
                format!("{from} (inherited from {name})")
            } else {
                name.to_string()
            };
            problems.push(Problem::note(format!("DMARC at {whose}: policy p={p}")));
        }
        Some(other) => problems.push(
            Problem::warning(format!("the DMARC record at {name} has p={other}"))
                .why("receivers ignore a DMARC record whose policy is not none, quarantine or reject")
                .fix("set p=none, p=quarantine or p=reject"),
        ),
        None => problems.push(
            Problem::warning(format!("the DMARC record at {name} has no p= policy"))
                .why("a DMARC record without p= is treated as p=none at best, or ignored")
                .fix(format!("add p=none (e.g. {})", zone_record(name, "v=DMARC1; p=none"))),
        ),
    }
    if let Some(dkim) = dkim_domain
        && tag(&tags, "adkim").is_some_and(|a| a.eq_ignore_ascii_case("s"))
        && !dkim.trim_end_matches('.').eq_ignore_ascii_case(from)
    {
        problems.push(
            Problem::warning(format!(
                "the DMARC record at {name} asks for strict DKIM alignment (adkim=s), but the \
                 DKIM domain {dkim} is not the From domain {from}"
            ))
            .why("with adkim=s only a signature with d= equal to the From domain counts")
            .fix(format!(
                "sign with [dkim] domain = \"{from}\", or remove adkim=s"
            )),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_addresses() {
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_resolver("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_resolver("dns.example").is_err());
    }

    #[test]
    fn zone_records_split_long_values() {
        let value = "a".repeat(300);
        let line = zone_record("s._domainkey.acme.example", &value);
        assert_eq!(
            line,
            format!(
                "s._domainkey.acme.example. IN TXT \"{}\" \"{}\"",
                "a".repeat(255),
                "a".repeat(45)
            )
        );
    }

    #[test]
    fn spf_rules() {
        let none = spf_problems("acme.example", &["google-site-verification=x".into()], None);
        assert_eq!(none[0].severity, super::super::Severity::Warning);
        assert!(none[0].fix.as_ref().unwrap().contains("\"v=spf1 include:"));
        let with_host = spf_problems("acme.example", &[], Some("smtp.acme.example"));
        assert!(
            with_host[0]
                .fix
                .as_ref()
                .unwrap()
                .contains("acme.example. IN TXT \"v=spf1 a:smtp.acme.example ~all\"")
        );
        let ok = spf_problems("acme.example", &["v=spf1 mx -all".into()], None);
        assert_eq!(ok[0].severity, super::super::Severity::Note);
        let open = spf_problems("acme.example", &["v=spf1 +all".into()], None);
        assert_eq!(open[0].severity, super::super::Severity::Warning);
        let two = spf_problems(
            "acme.example",
            &["v=spf1 mx -all".into(), "v=spf1 a -all".into()],
            None,
        );
        assert!(two[0].text.contains("2 SPF records"));
    }

    #[test]
    fn dkim_tags() {
        let t = tags("v=DKIM1; k=rsa; p=AB CD\t==;");
        assert_eq!(tag(&t, "v"), Some("DKIM1"));
        assert_eq!(tag(&t, "k"), Some("rsa"));
        assert_eq!(tag(&t, "p"), Some("AB CD\t=="));
    }

    #[test]
    fn ed25519_records() {
        let key = PublicKey::Ed25519([7; 32]);
        let good = format!("v=DKIM1; k=ed25519; p={}", BASE64.encode([7u8; 32]));
        assert!(judge_dkim(&tags(&good), &key).is_ok());
        let rsa = format!("v=DKIM1; p={}", BASE64.encode([7u8; 32]));
        assert!(judge_dkim(&tags(&rsa), &key).unwrap_err().contains("k=rsa"));
        let mut spki = vec![0u8; 12];
        spki.extend([7u8; 32]);
        let wrapped = format!("k=ed25519; p={}", BASE64.encode(&spki));
        assert!(
            judge_dkim(&tags(&wrapped), &key)
                .unwrap_err()
                .contains("RFC 8463")
        );
        let revoked = "k=ed25519; p=";
        assert!(
            judge_dkim(&tags(revoked), &key)
                .unwrap_err()
                .contains("revoked")
        );
    }

    #[test]
    fn dmarc_policies() {
        let record = "v=DMARC1; p=reject; sp=quarantine; adkim=s".to_string();
        let own = dmarc_problems(
            "_dmarc.acme.example",
            "acme.example",
            false,
            &[&record],
            Some("acme.example"),
        );
        assert_eq!(own.len(), 1);
        assert!(own[0].text.ends_with("policy p=reject"), "{own:?}");
        let inherited = dmarc_problems(
            "_dmarc.acme.example",
            "news.acme.example",
            true,
            &[&record],
            Some("acme.example"),
        );
        assert!(inherited[0].text.contains("p=quarantine"), "{inherited:?}");
        assert!(inherited[1].text.contains("adkim=s"), "{inherited:?}");
    }
}
