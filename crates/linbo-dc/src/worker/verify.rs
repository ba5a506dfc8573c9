//! Verification after a successful import (SPEC §5.6): what AD, DNS and DHCP say about each job's
//! host, checked concurrently within a bounded time, with the clean-up after deletes.
//!
//! * AD: one `samba-tool computer list` for the whole batch (a `computer show` per host only
//!   after a clean-up). Required for hosts whose role has a computer account.
//! * DNS, asked in process (`dc_adapters::dns::Resolver`, `DNS_SERVER` or `/etc/resolv.conf`,
//!   no cache, many lookups at once): the A record of `<name>.<domain>`, required for fixed IPs;
//!   the PTR record of the IP for information.
//! * DHCP: the host block in `DHCP_VERIFY_FILE` when it is set, for information.
//! * A host expected absent (delete, old name of a rename) that AD or DNS still has is removed
//!   with `samba-tool computer delete` / `dns delete` (needs `SAMBA_TOOL_AUTH_FILE` or
//!   `SAMBA_TOOL_AUTH`; `dns delete` talks to `SAMBA_DNS_SERVER`) and checked again — only when
//!   the host was in devices.csv or the delta file before the batch, is not a `server`/`addc`,
//!   and for DNS only the A record of the address the file had, and the PTR record of that
//!   address when it points at the host. Anything else that is still there is reported, never
//!   removed. The order follows samba: `computer delete` removes the A records of the object's
//!   `dNSHostName` itself, and sometimes the PTR records pointing at it (the recording
//!   `host_-t_PTR_after_computer_delete.txt` shows the PTR staying, samba 4.17 on the test kit's
//!   DC removed it), so DNS is looked up again after it and only what is left is deleted; nothing samba
//!   already removed is reported as a failed clean-up. A PTR record that cannot be removed is a
//!   warning in the result (PTR records are informational), not a failure.
//!
//! Names outside `default-school` carry the `<school>-` prefix in AD, DNS and DHCP host blocks
//! alike (`samba_tool::school_host_name`), compared without regard to case.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use dc_adapters::dns::{self, Answer};
use dc_adapters::samba_tool::{self, DnsRecord, Presence};
use devices_csv::{HostFacts, Previous};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::paths::School;
use crate::worker::api::OperationId;
use crate::worker::provision::ProvisionError;
use crate::worker::{Context, bounded};

/// A host as verification sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Target {
    /// The devices.csv host name (without the `<school>-` prefix of its AD, DNS and DHCP names).
    pub(crate) host: String,
    /// Whether its role has an AD computer account.
    pub(crate) account: bool,
    /// Its fixed IP, if any.
    pub(crate) ip: Option<Ipv4Addr>,
    /// It is in devices.csv or the delta file (before the batch, for a host expected absent):
    /// only such hosts' AD and DNS objects may be removed by the clean-up.
    pub(crate) managed: bool,
    /// Its role is `server` or `addc`: never cleaned up.
    pub(crate) protected: bool,
}

impl Target {
    /// A host as the batch wrote it.
    fn written(host: &HostFacts) -> Target {
        Target {
            host: host.name.to_string(),
            account: host.has_computer_account(),
            ip: host.ip,
            managed: true,
            protected: host.is_server(),
        }
    }

    /// A host a delete or rename removed, as the files had it before the batch (unmanaged when
    /// they did not have it).
    fn before(previous: &Previous) -> Target {
        match &previous.before {
            Some(host) => Target::written(host),
            None => Target {
                host: previous.name.to_string(),
                account: true,
                ip: None,
                managed: false,
                protected: false,
            },
        }
    }
}

/// What a job expects after the import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Expect {
    /// create/update: the host exists.
    Present(Target),
    /// delete: the host is gone.
    Absent(Target),
    /// rename: the new name exists, the old one is gone.
    Renamed {
        /// The new name.
        new: Target,
        /// The old name.
        old: Target,
    },
    /// A later job of the batch changed the same host again (create then delete, delete then
    /// create): the final state is that job's to verify; this one has nothing to check.
    Superseded {
        /// The later job's operation.
        by: String,
    },
}

impl Expect {
    /// The expectation of an applied job, from the hosts the merge says it wrote (`written`)
    /// and removed or renamed (`previous`); `None` when it names neither.
    pub(crate) fn from_outcome(
        written: Option<&HostFacts>,
        previous: Option<&Previous>,
    ) -> Option<Expect> {
        Some(match (written, previous) {
            (Some(written), None) => Expect::Present(Target::written(written)),
            (None, Some(previous)) => Expect::Absent(Target::before(previous)),
            // A rename, also one run again after the first run wrote it (the merge then sees an
            // update): the old name must be gone from AD and DNS.
            (Some(written), Some(previous)) => Expect::Renamed {
                new: Target::written(written),
                old: Target::before(previous),
            },
            (None, None) => return None,
        })
    }

    /// The host names this expectation is about.
    fn names(&self) -> Vec<&str> {
        match self {
            Expect::Present(target) | Expect::Absent(target) => vec![&target.host],
            Expect::Renamed { new, old } => vec![&new.host, &old.host],
            Expect::Superseded { .. } => Vec::new(),
        }
    }
}

/// Marks what a later job of the batch decides anyway: only the last word on a host name is
/// verified. A rename whose old name a later job reuses keeps checking its new name.
pub(crate) fn supersede<'a>(
    jobs: impl DoubleEndedIterator<Item = (&'a OperationId, &'a mut Expect)>,
) {
    let mut claimed: HashMap<String, &OperationId> = HashMap::new();
    for (id, expect) in jobs.rev() {
        let later = |name: &str| claimed.get(name).map(|by| by.to_string());
        let replaced = match &*expect {
            Expect::Present(target) | Expect::Absent(target) => {
                later(&target.host).map(|by| Expect::Superseded { by })
            }
            Expect::Renamed { new, old } => match (later(&new.host), later(&old.host)) {
                (Some(by), _) => Some(Expect::Superseded { by }),
                (None, Some(_)) => Some(Expect::Present(new.clone())),
                (None, None) => None,
            },
            Expect::Superseded { .. } => None,
        };
        for name in expect.names() {
            claimed.entry(name.to_owned()).or_insert(id);
        }
        if let Some(replaced) = replaced {
            *expect = replaced;
        }
    }
}

/// The verdict on one job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// `verify` of the result object.
    pub(crate) verify: Map<String, Value>,
    /// Why the job fails; empty = it succeeded.
    pub(crate) problems: Vec<String>,
}

/// What the batch-wide listings found.
#[derive(Debug, Default)]
struct Listings {
    /// AD computer names (lowercase), or why they could not be listed.
    ad: Option<Result<HashSet<String>, ProvisionError>>,
    /// The host blocks of `DHCP_VERIFY_FILE`, or why it could not be read.
    dhcp: Option<Result<DhcpBlocks, ProvisionError>>,
}

/// The names of the host blocks in a school's DHCP file, lowercase and without quotes, looked up
/// by the name `linuxmuster-import-devices` gives a host's block (the same name as in AD and
/// DNS; linuxmuster-base7 7.3 lib/functions.py:273-276, 7.4 functions/network.py:128-130).
#[derive(Debug, Default)]
struct DhcpBlocks {
    names: HashSet<String>,
}

impl DhcpBlocks {
    fn parse(text: &str) -> dhcpd_conf::Result<DhcpBlocks> {
        let config = dhcpd_conf::Config::parse(text)?;
        Ok(DhcpBlocks {
            names: config
                .hosts()
                .map(|host| host.name().trim_matches('"').to_lowercase())
                .collect(),
        })
    }

    /// Whether the file has a block for `host` of `school`: `<school>-<host>` outside
    /// default-school. linuxmuster writes the host name as devices.csv has it, so the case of
    /// neither name matters.
    fn has_host(&self, school: &School, host: &str) -> bool {
        self.names
            .contains(&samba_tool::school_host_name(school.as_str(), host))
    }
}

/// Verifies every expectation; the verdicts come back in the same order. Jobs whose checks do not
/// finish within `VERIFY_TIMEOUT_SEC` fail with a message saying so.
pub(crate) async fn verify_all(
    context: &Arc<Context>,
    school: &School,
    expectations: Vec<Expect>,
) -> Vec<Verdict> {
    let timeout = context.settings.verify_timeout;
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let hosts = expectations.len();
    let listings = tokio::time::timeout_at(deadline, listings(context, school, &expectations));
    let listed = listings.await;
    let listing_ms = started.elapsed().as_millis();
    let verdicts = match listed {
        Ok(listings) => {
            let listings = Arc::new(listings);
            // The limit is on commands, not on checks: a check waits for a slot per command.
            let permits = Arc::new(Semaphore::new(context.settings.verify_concurrency.get()));
            let checks = expectations.into_iter().map(|expect| {
                let (context, school, listings, permits) = (
                    Arc::clone(context),
                    school.clone(),
                    Arc::clone(&listings),
                    Arc::clone(&permits),
                );
                async move {
                    let checker = Checker {
                        context: &context,
                        school: &school,
                        listings: &listings,
                        permits: &permits,
                    };
                    checker.verdict(expect).await
                }
            });
            bounded(usize::MAX, checks, Some(deadline)).await
        }
        Err(_) => (0..expectations.len()).map(|_| None).collect(),
    };
    if verdicts.iter().any(Option::is_none) {
        tracing::warn!(?timeout, "verification did not finish in time");
    }
    tracing::info!(
        hosts,
        listing_ms,
        checks_ms = started.elapsed().as_millis() - listing_ms,
        "verification done"
    );
    verdicts
        .into_iter()
        .map(|verdict| {
            verdict.unwrap_or_else(|| Verdict {
                verify: Map::new(),
                problems: vec![format!(
                    "verification did not finish within {} s (VERIFY_TIMEOUT_SEC)",
                    timeout.as_secs()
                )],
            })
        })
        .collect()
}

async fn listings(context: &Arc<Context>, school: &School, expectations: &[Expect]) -> Listings {
    // Every expectation but a superseded one looks its host up in AD.
    let needs_ad = expectations
        .iter()
        .any(|expect| !matches!(expect, Expect::Superseded { .. }));
    let mut listings = Listings::default();
    if needs_ad {
        let samba = context.samba_tool.clone();
        listings.ad = Some(
            blocking(move || {
                samba
                    .computer_list()
                    .map_err(|source| ProvisionError::Adapter {
                        doing: "AD listing failed",
                        source,
                    })
            })
            .await
            .map(|names| names.into_iter().map(|n| n.to_lowercase()).collect()),
        );
    }
    if let Some(path) = context.settings.dhcp_verify_file(school) {
        listings.dhcp = Some(
            blocking(move || {
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| ProvisionError::io("reading", &path, error))?;
                DhcpBlocks::parse(&text).map_err(|source| ProvisionError::DhcpFile { path, source })
            })
            .await,
        );
    }
    listings
}

struct Checker<'a> {
    context: &'a Arc<Context>,
    school: &'a School,
    listings: &'a Listings,
    permits: &'a Semaphore,
}

impl Checker<'_> {
    async fn verdict(&self, expect: Expect) -> Verdict {
        let mut verify = Map::new();
        let mut problems = Vec::new();
        match expect {
            Expect::Present(target) => {
                self.present(&target, &mut verify, &mut problems).await;
            }
            Expect::Absent(target) => {
                self.absent(&target, &mut verify, &mut problems).await;
                verify.insert("expected_absent".to_owned(), json!(true));
            }
            Expect::Renamed { new, old } => {
                self.present(&new, &mut verify, &mut problems).await;
                let mut old_verify = Map::new();
                self.absent(&old, &mut old_verify, &mut problems).await;
                old_verify.insert("hostname".to_owned(), json!(old.host));
                verify.insert("old_hostname".to_owned(), Value::Object(old_verify));
            }
            Expect::Superseded { by } => {
                verify.insert("superseded_by".to_owned(), json!(by));
            }
        }
        Verdict { verify, problems }
    }

    fn name(&self, host: &str) -> String {
        samba_tool::school_host_name(self.school.as_str(), host)
    }

    fn fqdn(&self, host: &str) -> String {
        format!("{}.{}", self.name(host), self.context.settings.linbo_domain)
    }

    async fn present(
        &self,
        target: &Target,
        verify: &mut Map<String, Value>,
        problems: &mut Vec<String>,
    ) {
        let name = self.name(&target.host);
        let mut ad_problems = Vec::new();
        let ad = self.ad_exists(&name, &mut ad_problems);
        if target.account {
            problems.extend(ad_problems);
        }
        verify.insert("ad_object_exists".to_owned(), json!(ad == Some(true)));
        if target.account && ad == Some(false) {
            problems.push(format!("AD computer object {name} not found"));
        }
        let mut required = Vec::new();
        if target.account {
            required.push("ad_object_exists");
        }
        match target.ip {
            Some(ip) => {
                required.push("dns_a_exists");
                let fqdn = self.fqdn(&target.host);
                let a = self.lookup_a(&fqdn, problems).await;
                verify.insert(
                    "dns_a_exists".to_owned(),
                    json!(a.as_ref().is_some_and(|found| !found.is_empty())),
                );
                match a {
                    Some(found) if found.is_empty() => {
                        problems.push(format!("DNS A record {fqdn} not found"));
                    }
                    Some(found) if !found.iter().any(|address| *address == ip.to_string()) => {
                        problems.push(format!(
                            "DNS A record {fqdn} points to {} instead of {ip}",
                            found.join(", ")
                        ));
                    }
                    _ => {}
                }
                let ptr = self.lookup_ptr(ip).await;
                verify.insert(
                    "dns_ptr_exists".to_owned(),
                    json!(ptr.is_some_and(|names| !names.is_empty())),
                );
            }
            None => {
                verify.insert("dns_a_exists".to_owned(), json!(false));
                verify.insert("dns_ptr_exists".to_owned(), json!(false));
            }
        }
        if let Some(dhcp) = self.dhcp_exists(&target.host) {
            verify.insert("dhcp_configured".to_owned(), json!(dhcp));
        } else {
            verify.insert("dhcp_configured".to_owned(), json!(false));
        }
        verify.insert("required".to_owned(), json!(required));
    }

    async fn absent(
        &self,
        target: &Target,
        verify: &mut Map<String, Value>,
        problems: &mut Vec<String>,
    ) {
        let name = self.name(&target.host);
        let fqdn = self.fqdn(&target.host);
        let mut cleaned = Vec::new();
        let cleanable = if !target.managed {
            Err("it was not in devices.csv or the delta file")
        } else if target.protected {
            Err("its role is server or addc")
        } else {
            Ok(())
        };
        let mut ad = self.ad_exists(&name, problems);
        if ad == Some(true)
            && let Err(reason) = cleanable
        {
            problems.push(format!(
                "AD computer object {name} still exists; not removed because {reason}"
            ));
        } else if ad == Some(true) {
            let samba = self.context.samba_tool.clone();
            let delete_name = name.clone();
            match self.run(move || samba.computer_delete(&delete_name)).await {
                Ok(_) => cleaned.push(format!("AD computer object {name}")),
                Err(error) => problems.push(format!(
                    "AD computer object {name} still exists and could not be removed: {error}"
                )),
            }
            let samba = self.context.samba_tool.clone();
            let show_name = name.clone();
            ad = match self.run(move || samba.computer_show(&show_name)).await {
                Ok(presence) => Some(presence == Presence::Present),
                Err(error) => {
                    problems.push(format!("AD check of {name} failed: {error}"));
                    None
                }
            };
            if ad == Some(true) {
                problems.push(format!(
                    "AD computer object {name} still exists after the clean-up"
                ));
            }
        }
        verify.insert("ad_object_exists".to_owned(), json!(ad != Some(false)));
        let mut a = self.lookup_a(&fqdn, problems).await;
        if let Some(addresses) = a.clone().filter(|found| !found.is_empty()) {
            let zone = self.context.settings.linbo_domain.clone();
            // Only the address the file had, and only for a host the worker may clean up.
            let (ours, foreign): (Vec<String>, Vec<String>) =
                addresses.into_iter().partition(|address| {
                    cleanable.is_ok() && target.ip.is_some_and(|ip| ip.to_string() == *address)
                });
            if !foreign.is_empty() {
                let reason = cleanable
                    .err()
                    .unwrap_or("it is not the address devices.csv had");
                problems.push(format!(
                    "DNS A record {fqdn} ({}) still exists; not removed because {reason}",
                    foreign.join(", ")
                ));
            }
            let tried = !ours.is_empty();
            for address in ours {
                let Ok(address) = address.parse::<Ipv4Addr>() else {
                    continue;
                };
                let samba = self.context.samba_tool.clone();
                let server = self.context.settings.samba_dns_server.clone();
                let (zone, record_name) = (zone.clone(), name.clone());
                match self
                    .run(move || samba.dns_delete(&server, &zone, &record_name, &DnsRecord::A(address)))
                    .await
                {
                    Ok(_) => cleaned.push(format!("DNS A record {fqdn} {address}")),
                    Err(error) => problems.push(format!(
                        "DNS A record {fqdn} ({address}) still exists and could not be removed: {error}"
                    )),
                }
            }
            if tried {
                a = self.lookup_a(&fqdn, problems).await;
                if let Some(left) = a.as_ref().filter(|found| !found.is_empty())
                    && foreign.is_empty()
                {
                    problems.push(format!(
                        "DNS A record {fqdn} ({}) still exists after the clean-up",
                        left.join(", ")
                    ));
                }
            }
        }
        verify.insert(
            "dns_a_exists".to_owned(),
            json!(a.is_none_or(|found| !found.is_empty())),
        );
        let mut warnings = Vec::new();
        let ptr = match target.ip {
            Some(ip) => {
                let mut names = self.lookup_ptr(ip).await;
                let stale = names
                    .as_ref()
                    .is_some_and(|names| names.iter().any(|name| name.eq_ignore_ascii_case(&fqdn)));
                if stale && cleanable.is_ok() {
                    let (zone, record_name) =
                        samba_tool::reverse_record(ip, self.context.settings.rev_dns_octets);
                    let samba = self.context.samba_tool.clone();
                    let server = self.context.settings.samba_dns_server.clone();
                    let data = fqdn.clone();
                    match self
                        .run(move || {
                            samba.dns_delete(&server, &zone, &record_name, &DnsRecord::Ptr(data))
                        })
                        .await
                    {
                        Ok(_) => {
                            cleaned.push(format!("DNS PTR record {ip} {fqdn}"));
                            names = self.lookup_ptr(ip).await;
                        }
                        Err(error) => warnings.push(format!(
                            "DNS PTR record {ip} → {fqdn} still exists and could not be removed: {error}"
                        )),
                    }
                }
                names.is_some_and(|names| !names.is_empty())
            }
            None => false,
        };
        verify.insert("dns_ptr_exists".to_owned(), json!(ptr));
        verify.insert(
            "dhcp_configured".to_owned(),
            json!(self.dhcp_exists(&target.host).unwrap_or(false)),
        );
        if !cleaned.is_empty() {
            verify.insert("cleaned_up".to_owned(), json!(cleaned));
        }
        if !warnings.is_empty() {
            for warning in &warnings {
                tracing::warn!(host = %target.host, "{warning}");
            }
            verify.insert("warnings".to_owned(), json!(warnings));
        }
    }

    /// From the batch listing; `None` (and a problem) when AD could not be listed.
    fn ad_exists(&self, name: &str, problems: &mut Vec<String>) -> Option<bool> {
        match &self.listings.ad {
            Some(Ok(names)) => Some(names.contains(name)),
            Some(Err(error)) => {
                problems.push(error.to_string());
                None
            }
            None => None,
        }
    }

    fn dhcp_exists(&self, host: &str) -> Option<bool> {
        match &self.listings.dhcp {
            Some(Ok(blocks)) => Some(blocks.has_host(self.school, host)),
            Some(Err(error)) => {
                tracing::warn!(%error, "DHCP_VERIFY_FILE could not be checked");
                None
            }
            None => None,
        }
    }

    /// The A record's addresses (empty = none); `None` (and a problem) when the lookup failed.
    async fn lookup_a(&self, fqdn: &str, problems: &mut Vec<String>) -> Option<Vec<String>> {
        let answer = match self.resolver() {
            Ok(resolver) => resolver
                .lookup_a(fqdn)
                .await
                .map_err(ProvisionError::Command),
            Err(error) => Err(error),
        };
        match answer {
            Ok(Answer::Found(addresses)) => Some(addresses),
            Ok(_) => Some(Vec::new()),
            Err(error) => {
                problems.push(format!("DNS lookup of {fqdn} failed: {error}"));
                None
            }
        }
    }

    /// The names the PTR records of `ip` point to (empty = none); `None` when the lookup failed
    /// (informational: a failure is logged, not a problem).
    async fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<Vec<String>> {
        let answer = match self.resolver() {
            Ok(resolver) => resolver
                .lookup_ptr(ip)
                .await
                .map_err(ProvisionError::Command),
            Err(error) => Err(error),
        };
        match answer {
            Ok(Answer::Found(names)) => Some(names),
            Ok(_) => Some(Vec::new()),
            Err(error) => {
                tracing::warn!(%ip, %error, "PTR lookup failed");
                None
            }
        }
    }

    /// The DNS client, or why there is none.
    fn resolver(&self) -> Result<&dns::Resolver, ProvisionError> {
        self.context.dns.as_ref().ok_or(ProvisionError::NoDnsServer)
    }

    /// Runs a blocking command when a verification slot is free.
    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> dc_adapters::Result<T> + Send + 'static,
    ) -> Result<T, ProvisionError> {
        // The semaphore is never closed: a permit always comes.
        let _permit = self.permits.acquire().await.ok();
        blocking(move || call().map_err(ProvisionError::Command)).await
    }
}

/// Runs `call` on the blocking pool.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, ProvisionError> + Send + 'static,
) -> Result<T, ProvisionError> {
    tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|source| {
            Err(ProvisionError::Task {
                step: "verification task",
                source,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expectations of a batch merged from `master`, in job order, after [`supersede`].
    fn expectations(master: &str, jobs: &[devices_csv::Job]) -> Vec<Expect> {
        let options = devices_csv::MergeOptions {
            adopt_manual_hosts: true,
            ..devices_csv::MergeOptions::default()
        };
        let output = devices_csv::merge(master, "", &[], jobs, &options);
        let mut expected: Vec<(OperationId, Expect)> = output
            .outcomes
            .iter()
            .enumerate()
            .map(|(index, outcome)| match outcome {
                devices_csv::JobOutcome::Applied {
                    written, previous, ..
                } => {
                    let id = format!("00000000-0000-4000-8000-{index:012}");
                    let expect = Expect::from_outcome(written.as_ref(), previous.as_ref());
                    (id.parse().expect("a UUID"), expect.expect("a host"))
                }
                devices_csv::JobOutcome::Rejected(problem) => panic!("refused: {problem}"),
            })
            .collect();
        supersede(expected.iter_mut().map(|(id, expect)| (&*id, expect)));
        expected.into_iter().map(|(_, expect)| expect).collect()
    }

    fn upsert(name: &str, old: Option<&str>, mac: &str, ip: &str) -> devices_csv::Job {
        devices_csv::Job::upsert(devices_csv::HostSpec {
            hostname: name.into(),
            old_hostname: old.map(Into::into),
            mac: mac.into(),
            ip: ip.into(),
            ..devices_csv::HostSpec::default()
        })
    }

    #[test]
    fn expectations_come_from_the_merge_outcome() {
        let master = "r1;pr01;nopxe;00:1A:2B:3C:4D:02;10.0.0.5;;;;printer;;0;;;;\n\
                      r1;sw01;nopxe;00:1A:2B:3C:4D:03;DHCP;;;;switch;;0;;;;\n\
                      r1;dc;nopxe;00:1A:2B:3C:4D:04;10.0.0.1;;;;addc;;0;;;;\n";
        let expected = expectations(
            master,
            &[
                upsert("pc01", None, "00:1A:2B:3C:4D:10", "10.0.0.10"),
                devices_csv::Job::delete("sw01"),
                upsert("pr02", Some("pr01"), "00:1A:2B:3C:4D:02", "10.0.0.6"),
                devices_csv::Job::delete("gone"),
            ],
        );
        let Expect::Present(pc01) = &expected[0] else {
            panic!("{expected:?}")
        };
        assert_eq!(
            (pc01.host.as_str(), pc01.ip),
            ("pc01", Some("10.0.0.10".parse().expect("ip")))
        );
        assert!(pc01.managed && pc01.account && !pc01.protected);
        let Expect::Absent(switch) = &expected[1] else {
            panic!("{expected:?}")
        };
        assert!(
            switch.managed && !switch.account,
            "a switch has no computer account"
        );
        let Expect::Renamed { new, old } = &expected[2] else {
            panic!("{expected:?}")
        };
        assert_eq!((new.host.as_str(), old.host.as_str()), ("pr02", "pr01"));
        assert_eq!(
            old.ip,
            Some("10.0.0.5".parse().expect("ip")),
            "as the file had it"
        );
        assert!(new.account, "the printer keeps its role and account");
        let Expect::Absent(gone) = &expected[3] else {
            panic!("{expected:?}")
        };
        assert!(
            !gone.managed,
            "never in the files: nothing of it may be cleaned up"
        );
    }

    #[test]
    fn only_the_last_word_on_a_host_is_verified() {
        let expected = expectations(
            "",
            &[
                upsert("pc01", None, "00:1A:2B:3C:4D:10", ""),
                devices_csv::Job::delete("pc01"),
                upsert("pc02", None, "00:1A:2B:3C:4D:11", ""),
                upsert("pc03", Some("pc02"), "00:1A:2B:3C:4D:11", ""),
                upsert("pc02", None, "00:1A:2B:3C:4D:12", ""),
            ],
        );
        assert!(
            matches!(&expected[0], Expect::Superseded { by } if by.ends_with("000000000001")),
            "{expected:?}"
        );
        assert!(matches!(&expected[1], Expect::Absent(target) if target.host == "pc01"));
        assert!(matches!(&expected[2], Expect::Superseded { .. }));
        // The old name is taken again later: the rename checks its new name only.
        assert!(matches!(&expected[3], Expect::Present(target) if target.host == "pc03"));
        assert!(matches!(&expected[4], Expect::Present(target) if target.host == "pc02"));
    }

    /// Whether a DHCP file `text` of `school` has a host block for `host`.
    #[track_caller]
    fn check(school: &str, text: &str, host: &str, expect: bool) {
        let school: School = school.parse().expect("a valid school name");
        let blocks = DhcpBlocks::parse(text).expect("a valid DHCP file");
        assert_eq!(
            blocks.has_host(&school, host),
            expect,
            "school {school}, host {host}, file:\n{text}"
        );
    }

    #[test]
    fn outside_default_school_the_block_is_named_school_dash_host() {
        check("gym", "host gym-r100-pc01 { }\n", "r100-pc01", true);
        check("gym", "host r100-pc01 { }\n", "r100-pc01", false);
    }

    #[test]
    fn block_names_are_compared_without_regard_to_case() {
        check("gym", "host gym-R100-PC01 { }\n", "r100-pc01", true);
        check("gym", "host gym-r100-pc01 { }\n", "R100-Pc01", true);
        check("default-school", "host R100-PC01 { }\n", "r100-pc01", true);
    }

    #[test]
    fn in_default_school_the_block_has_the_bare_name() {
        check("default-school", "host r100-pc01 { }\n", "r100-pc01", true);
        check(
            "default-school",
            "host default-school-r100-pc01 { }\n",
            "r100-pc01",
            false,
        );
    }
}
