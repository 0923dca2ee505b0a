//! `campaign check --dns`: looks up the records receivers use to authenticate the campaign's mail and
//! says what is missing or wrong, with the exact record to publish: [`spf`], [`dkim`] and
//! [`dmarc`], one module each, asked concurrently through one resolver ([`Dns`], here).
//!
//! A lookup that fails (timeout, SERVFAIL, unreachable resolver) is an error: the record could not
//! be checked. The resolver is the system's (`/etc/resolv.conf`) unless `--resolver` names one.

mod dkim;
mod dmarc;
mod spf;

pub use dkim::dkim_problems;
pub use dmarc::dmarc_problems;
pub use spf::spf_problems;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use crate::campaign::Campaign;

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
        let hosts: Vec<&str> = campaign
            .relays
            .iter()
            .map(|r| r.smtp.host.as_str())
            .collect();
        let (spf, dkim, dmarc) = tokio::join!(
            spf::check(&dns, &from, &hosts),
            dkim::check(&dns, &campaign.dkim),
            dmarc::check(&dns, &from, dkim::dmarc_domain(&campaign.dkim, &from)),
        );
        [spf, dkim, dmarc].concat()
    })
}

// ----------------------------------------------------------------- resolver ---

/// A TXT lookup: the records (each one's strings joined), or none.
type Txt = Result<Vec<String>, String>;

pub(super) struct Dns {
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
    pub(super) async fn txt(&self, name: &str) -> Txt {
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

pub(super) fn lookup_failed(what: &str, error: String) -> Problem {
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

/// The tags of a DKIM key record (`tag=value; …`), names lower-cased.
pub(super) fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

pub(super) fn tag<'t>(tags: &'t [(String, String)], name: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
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
}
