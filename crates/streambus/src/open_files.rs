//! The open-file limit. A partition holds three files open per segment it is writing (the
//! log and its two indexes) plus one per older segment, and every client connection is a
//! file too, so a broker with a few hundred partitions passes the soft limit most systems
//! start processes with (1024). `streambus serve` raises the soft limit to the hard one at
//! start, which any process may do, so that the limit an administrator set (the hard one)
//! is the limit the broker runs under, as Go programs and the JVM's launcher do by default.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Linux refuses a soft limit above `fs.nr_open`, which defaults to this; an unlimited hard
/// limit is met by asking for this much.
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// What raising the limit did.
#[derive(Debug, PartialEq, Eq)]
pub enum Raised {
    /// The soft limit was already the hard one.
    AlreadyAtMost(u64),
    /// Raised from the first to the second.
    From(u64, u64),
    /// The system refused; the soft limit stays.
    Refused {
        soft: u64,
        wanted: u64,
        reason: String,
    },
}

/// Raises the soft open-file limit to the hard limit.
pub fn raise_limit() -> Raised {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let soft = current.unwrap_or(u64::MAX);
    let wanted = maximum.unwrap_or(NR_OPEN_DEFAULT);
    if soft >= wanted {
        return Raised::AlreadyAtMost(soft);
    }
    let new = Rlimit {
        current: Some(wanted),
        maximum,
    };
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => Raised::From(soft, wanted),
        Err(e) => Raised::Refused {
            soft,
            wanted,
            reason: e.to_string(),
        },
    }
}

/// Raises the limit and says what happened in the log.
pub fn raise_and_log() {
    match raise_limit() {
        Raised::AlreadyAtMost(limit) => {
            tracing::debug!(limit, "open-file limit already at its maximum");
        }
        Raised::From(from, to) => tracing::info!(from, to, "raised the open-file limit"),
        Raised::Refused {
            soft,
            wanted,
            reason,
        } => tracing::warn!(
            limit = soft,
            wanted,
            reason,
            "cannot raise the open-file limit; a broker with many partitions may run out of files"
        ),
    }
}
