//! Kernel-level network faults for an agent granted CAP_NET_ADMIN: `tc netem` delay and loss
//! on an interface, and iptables partitions from named peers. They act on the whole pod's
//! network (every container shares it), so each is undone when healed, timed out or stopped.

use std::process::Command;
use std::time::Duration;

/// CAP_NET_ADMIN's bit in the capability sets.
const CAP_NET_ADMIN: u32 = 12;
/// Tags the agent's iptables rules so that healing removes exactly those.
const RULE_TAG: &str = "testcar-fault";

/// Whether this process may change the network (CAP_NET_ADMIN in its effective set).
pub fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| effective_caps(&s))
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

fn effective_caps(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// A kernel fault that could not be set up or undone.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No CAP_NET_ADMIN.
    #[error(
        "{0} faults change the pod's network and need the NET_ADMIN capability, which the agent does not have (annotate the pod testcar.io/faults: net-admin; the namespace must allow it: Pod Security privileged, see docs/faults.md#kernel-network-faults-net_admin)"
    )]
    NoNetAdmin(&'static str),
    /// The tool is not installed.
    #[error(
        "{kind} faults run `{tool}`, which is not installed in the agent's image ({message}; the agent image's net-admin variant has iproute2 and iptables)"
    )]
    NoTool {
        /// The fault kind.
        kind: &'static str,
        /// `tc` or `iptables`.
        tool: &'static str,
        /// Why.
        message: String,
    },
    /// The command failed.
    #[error("`{command}` failed: {message}{hint}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr.
        message: String,
        /// What it likely means.
        hint: &'static str,
    },
}

/// What is on now, to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// `tc qdisc del dev IF root`.
    Qdisc(String),
    /// The `iptables -D` lines, each the arguments after `-D`.
    Rules(Vec<Vec<String>>),
}

/// Check, before the suite runs, that `kind` can work here.
pub fn preflight(kind: &'static str, tool: &'static str) -> Result<(), KernelError> {
    if !has_net_admin() {
        return Err(KernelError::NoNetAdmin(kind));
    }
    match Command::new(tool).arg("-V").output() {
        Ok(_) => Ok(()),
        Err(e) => Err(KernelError::NoTool {
            kind,
            tool,
            message: e.to_string(),
        }),
    }
}

/// The `tc` arguments that put netem on `interface`.
pub fn netem_args(interface: &str, latency: Duration, jitter: Duration, loss: f64) -> Vec<String> {
    let mut args: Vec<String> = ["qdisc", "add", "dev", interface, "root", "netem"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !latency.is_zero() {
        args.push("delay".into());
        args.push(format!("{}us", latency.as_micros()));
        if !jitter.is_zero() {
            args.push(format!("{}us", jitter.as_micros()));
        }
    }
    if loss > 0.0 {
        args.push("loss".into());
        args.push(format!("{}%", loss * 100.0));
    }
    args
}

/// Put netem on `interface`.
pub fn netem_on(
    interface: &str,
    latency: Duration,
    jitter: Duration,
    loss: f64,
) -> Result<Undo, KernelError> {
    run("tc", &netem_args(interface, latency, jitter, loss))?;
    Ok(Undo::Qdisc(interface.to_string()))
}

/// The iptables rules that drop traffic from and to `peers`, tagged with `id`.
pub fn partition_rules(peers: &[String], id: usize) -> Vec<Vec<String>> {
    let tag = format!("{RULE_TAG}-{id}");
    let mut out = Vec::new();
    for peer in peers {
        for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
            out.push(
                [
                    chain,
                    dir,
                    peer,
                    "-m",
                    "comment",
                    "--comment",
                    &tag,
                    "-j",
                    "DROP",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
        }
    }
    out
}

/// Drop all traffic from and to `peers`; on a failure midway, what was added is removed.
pub fn partition_on(peers: &[String], id: usize) -> Result<Undo, KernelError> {
    let rules = partition_rules(peers, id);
    let mut added = Vec::new();
    for rule in &rules {
        let mut args = vec!["-I".to_string()];
        args.extend(rule.iter().cloned());
        if let Err(e) = run("iptables", &args) {
            let _ = undo(&Undo::Rules(added));
            return Err(e);
        }
        added.push(rule.clone());
    }
    Ok(Undo::Rules(added))
}

/// Take a kernel fault back off; every step is tried, the first error returned.
pub fn undo(what: &Undo) -> Result<(), KernelError> {
    match what {
        Undo::Qdisc(interface) => run(
            "tc",
            &["qdisc", "del", "dev", interface, "root"].map(String::from),
        ),
        Undo::Rules(rules) => {
            let mut first = None;
            for rule in rules {
                let mut args = vec!["-D".to_string()];
                args.extend(rule.iter().cloned());
                if let Err(e) = run("iptables", &args) {
                    first.get_or_insert(e);
                }
            }
            first.map_or(Ok(()), Err)
        }
    }
}

fn run(tool: &'static str, args: &[String]) -> Result<(), KernelError> {
    let command = format!("{tool} {}", args.join(" "));
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| KernelError::Command {
            command: command.clone(),
            message: e.to_string(),
            hint: "",
        })?;
    if out.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let hint = if message.contains("qdisc kind is unknown") {
        " (this kernel has no netem queueing discipline: module sch_netem)"
    } else if message.contains("Operation not permitted") {
        " (NET_ADMIN is missing in this network namespace)"
    } else {
        ""
    };
    Err(KernelError::Command {
        command,
        message,
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_from_proc_status() {
        let status = "Name:\ttestcar-agent\nCapInh:\t0000000000000000\nCapPrm:\t0000000000001000\nCapEff:\t0000000000001000\n";
        assert_eq!(effective_caps(status), Some(1 << 12));
        assert_eq!(
            effective_caps("CapEff:\t00000000a80425fb\n"),
            Some(0xa80425fb)
        );
        assert_eq!(
            0xa80425fb_u64 & (1 << CAP_NET_ADMIN),
            0,
            "docker's default set has no NET_ADMIN"
        );
        assert_eq!(effective_caps("Name: x\n"), None);
    }

    #[test]
    fn netem_arguments() {
        assert_eq!(
            netem_args(
                "eth0",
                Duration::from_millis(100),
                Duration::from_millis(10),
                0.0
            )
            .join(" "),
            "qdisc add dev eth0 root netem delay 100000us 10000us"
        );
        assert_eq!(
            netem_args("lo", Duration::ZERO, Duration::ZERO, 0.25).join(" "),
            "qdisc add dev lo root netem loss 25%"
        );
    }

    #[test]
    fn partition_rules_are_tagged_both_ways() {
        let rules = partition_rules(&["10.0.0.7".into(), "10.0.1.0/24".into()], 3);
        assert_eq!(rules.len(), 4);
        assert_eq!(
            rules[0].join(" "),
            "INPUT -s 10.0.0.7 -m comment --comment testcar-fault-3 -j DROP"
        );
        assert_eq!(
            rules[1].join(" "),
            "OUTPUT -d 10.0.0.7 -m comment --comment testcar-fault-3 -j DROP"
        );
    }
}
