//! The scheduling policy of the server's threads (`--sched`).
//!
//! By default a serving siprouter runs its threads as `SCHED_BATCH`: a thread woken by a
//! datagram or a connection's bytes does not preempt the task running on its CPU, but runs
//! when that task yields or its time slice ends. A relay's wake-ups come from its peers'
//! sends; on a machine that runs the peers too (a B2BUA, a media server, sipp) the woken
//! thread otherwise preempts the sender in the middle of its work, and the two ping-pong
//! between the CPUs. Measured at UDP 500 calls/s (docs/performance.md, relay lever 26):
//! siprouter 33% less CPU a message, sipp's two processes 4–9% less; the median round trip
//! through the relay on an idle machine 114 → 18–50 µs (`cargo xtask bench rtt`). The price
//! is paid when every CPU is busy with other work: a woken thread then waits for the
//! running task's slice, and a round trip's 99th percentile grows from 1.0–2.3 to 3.1–3.6
//! ms with both CPUs of the test machine spinning (`bench rtt --hogs 2`). `--sched keep`
//! leaves the policy the process was started with.
//!
//! The policy is set on the main thread before the runtime and the UDP threads start, so
//! every thread inherits it. Only the kernel's default policy (`SCHED_OTHER`) is changed: a
//! process started under `chrt` (real-time, idle or batch) keeps what it was given, and
//! the nice value is kept as it is.

use std::fmt;

use thread_priority::unix::{
    set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
    ThreadSchedulePolicy,
};
use thread_priority::{ThreadPriority, ThreadPriorityValue};

/// What `--sched` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Sched {
    /// Run the threads as `SCHED_BATCH` (when started with the default policy).
    #[default]
    Batch,
    /// Keep the policy the process was started with.
    Keep,
}

/// Linux's number for the default policy, as `/proc/…/stat` shows it.
const SCHED_OTHER: u32 = 0;
/// Linux's number for `SCHED_BATCH`.
const SCHED_BATCH: u32 = 3;

/// Why the policy could not be set (the server then runs with the one it has).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchedError {
    /// `/proc/thread-self/stat` could not be read or has no policy or nice value.
    #[error(
        "cannot read this thread's scheduling from /proc/thread-self/stat ({0}): the threads keep their scheduling policy"
    )]
    Proc(String),
    /// No priority value of the crate maps to the current nice value.
    #[error(
        "cannot keep the nice value {0} under SCHED_BATCH: the threads keep their scheduling policy"
    )]
    Nice(i32),
    /// The call failed, or the thread's policy or nice value read back is not what was
    /// asked (the crate sets the policy, then the nice value, and can fail between them).
    #[error(
        "cannot set SCHED_BATCH ({reason}): the threads run under policy {policy} ({}) with nice {nice}",
        policy_name(*policy)
    )]
    NotApplied {
        /// Why: the call's error, or what was asked and not read back.
        reason: String,
        /// The policy number read back.
        policy: u32,
        /// The nice value read back.
        nice: i32,
    },
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The threads now run as `SCHED_BATCH`.
    Batch,
    /// The policy was left as it was (`--sched keep`, or the process was started with a
    /// policy other than the default): Linux's number for it, when /proc could be read.
    Kept(Option<u32>),
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applied::Batch => f.write_str(
                "threads run as SCHED_BATCH (`--sched keep` to keep the default policy)",
            ),
            Applied::Kept(Some(p)) => {
                write!(
                    f,
                    "threads keep scheduling policy {p} ({})",
                    policy_name(*p)
                )
            }
            Applied::Kept(None) => {
                f.write_str("threads keep the scheduling policy they started with")
            }
        }
    }
}

/// The name of a Linux scheduling policy number.
fn policy_name(policy: u32) -> &'static str {
    match policy {
        0 => "SCHED_OTHER",
        1 => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        _ => "unknown",
    }
}

/// The calling thread's policy and nice value.
fn current() -> Result<(u32, i32), SchedError> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")
        .map_err(|e| SchedError::Proc(e.to_string()))?;
    parse_stat(&stat).ok_or_else(|| SchedError::Proc("unexpected format".into()))
}

/// The policy (field 41) and nice value (field 19) of a `/proc/…/stat` line. The command
/// name (field 2) is in parentheses and may hold spaces and parentheses itself, so the
/// fields are counted from its last `)`.
fn parse_stat(stat: &str) -> Option<(u32, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // `rest` starts at field 3.
    let nice = fields.nth(19 - 3)?.parse().ok()?;
    let policy = fields.nth(41 - 19 - 1)?.parse().ok()?;
    Some((policy, nice))
}

/// SCHED_BATCH as the crate names it.
const BATCH: ThreadSchedulePolicy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);

/// The crate's priority that sets `nice` under SCHED_BATCH: it sets the nice value along
/// with the policy, from a value on its own 0–99 scale.
fn priority_for(nice: i32) -> Option<ThreadPriority> {
    (0..=99u8)
        .filter_map(|p| ThreadPriorityValue::try_from(p).ok())
        .map(ThreadPriority::Crossplatform)
        .find(|p| p.to_posix(BATCH).ok() == Some(nice))
}

/// Applies `sched` to the calling thread (call it before any thread the server keeps is
/// started: threads inherit the policy of the thread that starts them).
pub(crate) fn apply(sched: Sched) -> Result<Applied, SchedError> {
    if sched == Sched::Keep {
        return Ok(Applied::Kept(current().ok().map(|(policy, _)| policy)));
    }
    let (policy, nice) = current()?;
    if policy != SCHED_OTHER {
        return Ok(Applied::Kept(Some(policy)));
    }
    let priority = priority_for(nice).ok_or(SchedError::Nice(nice))?;
    let set = set_thread_priority_and_policy(thread_native_id(), priority, BATCH);
    // Whatever the call returned, what the thread now has is what the log must say.
    let (policy, now) = current()?;
    match set {
        Ok(()) if policy == SCHED_BATCH && now == nice => Ok(Applied::Batch),
        Ok(()) => Err(SchedError::NotApplied {
            reason: format!("asked for nice {nice}"),
            policy,
            nice: now,
        }),
        Err(e) => Err(SchedError::NotApplied {
            reason: e.to_string(),
            policy,
            nice: now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a `)` of its own; nice -5, policy 3.
        let mut fields: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        fields[19 - 3] = "-5".into();
        fields[41 - 3] = "3".into();
        let line = format!("1234 (a) b) {}\n", fields.join(" "));
        assert_eq!(parse_stat(&line), Some((3, -5)));
        assert_eq!(parse_stat("1234 (a"), None);
        assert_eq!(parse_stat("1234 (a) S 1 2"), None);
    }

    #[test]
    fn this_thread_reads_as_a_policy_and_a_nice_value() {
        let (policy, nice) = current().expect("readable /proc/thread-self/stat");
        assert_ne!(policy_name(policy), "unknown", "{policy}");
        assert!((-20..=19).contains(&nice), "{nice}");
    }

    #[test]
    fn every_nice_value_has_a_priority_under_batch() {
        for nice in -20..=19 {
            assert!(priority_for(nice).is_some(), "nice {nice}");
        }
    }

    #[test]
    fn batch_is_set_on_a_thread_of_its_own_and_keep_changes_nothing() {
        // On a thread of its own, so that the test harness's threads keep their policy.
        let got = std::thread::spawn(|| {
            let before = current().expect("stat");
            let kept = apply(Sched::Keep).expect("keep");
            let after_keep = current().expect("stat");
            let batch = apply(Sched::Batch).expect("batch");
            (before, kept, after_keep, batch, current().expect("stat"))
        })
        .join()
        .expect("thread");
        let (before, kept, after_keep, batch, after) = got;
        assert_eq!(kept, Applied::Kept(Some(before.0)));
        assert_eq!(after_keep, before);
        if before.0 == SCHED_OTHER {
            assert_eq!(batch, Applied::Batch);
            assert_eq!(after, (SCHED_BATCH, before.1));
        } else {
            assert_eq!(batch, Applied::Kept(Some(before.0)));
        }
    }
}
