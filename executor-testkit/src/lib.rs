//! executor-testkit (in progress).
