//! executor-threads (in progress).
