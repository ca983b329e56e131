//! executor-process (in progress).
