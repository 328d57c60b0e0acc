//! The consistency crate's integration tests as one binary: each file links the whole checker,
//! so one link replaces nine. `memory_limit` stays apart: it reads the peak memory of the
//! children its process waited for, which other tests' children would inflate.

mod bank_service;
mod big_histories;
mod cli;
mod differential;
mod etcd;
mod hostile;
mod oracle;
mod refutations;
mod stale_service;
