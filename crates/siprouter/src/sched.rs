//! The scheduling policy of the server's threads (`--sched`).
//!
//! By default a serving siprouter runs its threads as `SCHED_BATCH`: a thread woken by a
//! datagram or a connection's bytes does not preempt the task running on its CPU, but runs
//! when that task yields or its time slice ends. A relay's wake-ups come from its peers'
//! sends; on a machine that runs the peers too (a B2BUA, a media server, sipp) the woken
//! thread otherwise preempts the sender in the middle of its work, and the two ping-pong
//! between the CPUs. Measured at UDP 500 calls/s (docs/performance.md, relay lever 26):
//! siprouter 34% less CPU a message, sipp's two processes 4–9% less, the median round trip
//! through the relay 110 → 25 µs. The price is paid when every CPU is busy with other
//! work: a woken thread then waits for the running task's slice (a round trip's 90th
//! percentile 0.09 → 2.9 ms with both CPUs of the test machine spinning). `--sched keep`
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

/// Linux's policy numbers, as `/proc/…/stat` shows them.
const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

/// Why the policy could not be set (the server then runs with the one it has).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchedError {
    /// `/proc/thread-self/stat` could not be read or has no policy or nice value.
    #[error("cannot read this thread's scheduling from /proc/thread-self/stat: {0}")]
    Proc(String),
    /// No priority value of the crate maps to the current nice value.
    #[error("cannot keep the nice value {0} under SCHED_BATCH")]
    Nice(i32),
    /// The system call failed.
    #[error("cannot set SCHED_BATCH: {0}")]
    Set(String),
    /// The call succeeded but the thread's policy or nice value is not what was asked.
    #[error("SCHED_BATCH was set but the thread now has policy {policy} and nice {nice}")]
    Mismatch {
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
    /// policy other than the default: the number is Linux's).
    Kept(u32),
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applied::Batch => f.write_str(
                "threads run as SCHED_BATCH (`--sched keep` to keep the default policy)",
            ),
            Applied::Kept(p) => write!(
                f,
                "threads keep scheduling policy {} ({})",
                p,
                policy_name(*p)
            ),
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

/// Applies `sched` to the calling thread (call it before any thread the server keeps is
/// started: threads inherit the policy of the thread that starts them).
pub(crate) fn apply(sched: Sched) -> Result<Applied, SchedError> {
    let (policy, nice) = current()?;
    if sched == Sched::Keep || policy != SCHED_OTHER {
        return Ok(Applied::Kept(policy));
    }
    let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    // The crate sets the nice value along with the policy, from a value on its own
    // 0–99 scale: find the one that stands for the nice value the thread has.
    let priority = (0..=99u8)
        .filter_map(|p| ThreadPriorityValue::try_from(p).ok())
        .map(ThreadPriority::Crossplatform)
        .find(|p| p.to_posix(batch).ok() == Some(nice))
        .ok_or(SchedError::Nice(nice))?;
    set_thread_priority_and_policy(thread_native_id(), priority, batch)
        .map_err(|e| SchedError::Set(e.to_string()))?;
    match current()? {
        (SCHED_BATCH, n) if n == nice => Ok(Applied::Batch),
        (policy, nice) => Err(SchedError::Mismatch { policy, nice }),
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
    fn this_thread_reads_as_a_normal_policy() {
        let (policy, nice) = current().expect("readable /proc/thread-self/stat");
        assert!(policy == SCHED_OTHER || policy == SCHED_BATCH, "{policy}");
        assert!((-20..=19).contains(&nice), "{nice}");
    }

    #[test]
    fn every_nice_value_has_a_priority_under_batch() {
        let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
        for nice in -20..=19 {
            let found = (0..=99u8)
                .filter_map(|p| ThreadPriorityValue::try_from(p).ok())
                .any(|p| ThreadPriority::Crossplatform(p).to_posix(batch).ok() == Some(nice));
            assert!(found, "nice {nice}");
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
        assert_eq!(kept, Applied::Kept(before.0));
        assert_eq!(after_keep, before);
        if before.0 == SCHED_OTHER {
            assert_eq!(batch, Applied::Batch);
            assert_eq!(after, (SCHED_BATCH, before.1));
        } else {
            assert_eq!(batch, Applied::Kept(before.0));
        }
    }
}
