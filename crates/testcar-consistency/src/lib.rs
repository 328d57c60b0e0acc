//! Consistency suites and the linearizability checker.
