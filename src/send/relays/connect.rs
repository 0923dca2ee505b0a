//! Each relay's [`Connector`], its settings checked before anything is rendered or sent: a
//! username needs its password (each relay's own variable), and a password never goes unencrypted
//! to a host other than this machine. What a send, `test` and `check --smtp` open sessions with.

use std::net::IpAddr;

use crate::campaign::{Campaign, Relay, Security};
use crate::invalid;
use crate::send::smtp::Connector;

impl Connector {
    /// The connector for one of the campaign's relays, its settings checked against the password
    /// (exit 2 on a problem): what a send, `test` and `check --smtp` open sessions with.
    pub fn for_relay(campaign: &Campaign, relay: &Relay) -> crate::Result<Connector> {
        let toml = campaign.dir.join("campaign.toml");
        let smtp = relay.smtp.clone();
        let several = campaign.relays.len() > 1;
        let table = if several {
            format!("[[smtp]] {:?}:", relay.name)
        } else {
            "[smtp]".to_string()
        };
        if let Some(user) = &smtp.username {
            if smtp.password.is_none() {
                let at = relay
                    .username_line
                    .map_or(String::new(), |l| format!(":{l}"));
                return Err(invalid!(
                    "{}{at}: {table} username = {user:?} but {} is not set: put the password in \
                     the environment or in {}",
                    toml.display(),
                    smtp.password_var,
                    campaign.dir.join(".env").display()
                ));
            }
            if smtp.security == Security::None && !is_loopback(&smtp.host) {
                return Err(invalid!(
                    "{}: refusing to send the password for {user:?} unencrypted to {}: set {table} \
                     security = \"starttls\" or \"tls\"",
                    toml.display(),
                    smtp.host
                ));
            }
        }
        Connector::new(smtp).map_err(|e| invalid!("{}: {e}", toml.display()))
    }

    /// A connector for each of the campaign's relays, in the file's order; none is an error
    /// (exit 2).
    pub fn for_campaign(campaign: &Campaign) -> crate::Result<Vec<Connector>> {
        if campaign.relays.is_empty() {
            return Err(invalid!(
                "{}: no [smtp] section: add host (and port, security, username) to send, or use \
                 --dry-run",
                campaign.dir.join("campaign.toml").display()
            ));
        }
        let relays = campaign.relays.iter();
        relays.map(|r| Connector::for_relay(campaign, r)).collect()
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
