//! Every workload by name, in the order the report shows them, and `--only` selection.

use crate::context::Context;
use crate::record::Figures;
use crate::{memory, mpi, mpi_hosts, process, threads};

/// One runnable workload.
#[derive(Debug)]
pub struct Workload {
    /// Its command-line name: `t1`, `c1-process`, `m2`.
    pub name: &'static str,
    /// `threads`, `process`, `memory` or `mpi`: `--only threads` runs the group.
    pub group: &'static str,
    /// Measures it (one [`Figures`] per metric).
    pub run: fn(&Context) -> Vec<Figures>,
}

/// All workloads, in report order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "t1",
        group: "threads",
        run: threads::t1,
    },
    Workload {
        name: "t2",
        group: "threads",
        run: threads::t2,
    },
    Workload {
        name: "t3",
        group: "threads",
        run: threads::t3,
    },
    Workload {
        name: "c1-threads",
        group: "threads",
        run: threads::c1,
    },
    Workload {
        name: "p1",
        group: "process",
        run: process::p1,
    },
    Workload {
        name: "p2",
        group: "process",
        run: process::p2,
    },
    Workload {
        name: "p3",
        group: "process",
        run: process::p3,
    },
    Workload {
        name: "p4",
        group: "process",
        run: process::p4,
    },
    Workload {
        name: "p5",
        group: "process",
        run: process::p5,
    },
    Workload {
        name: "c1-process",
        group: "process",
        run: process::c1,
    },
    Workload {
        name: "m1",
        group: "memory",
        run: memory::m1,
    },
    Workload {
        name: "m2",
        group: "memory",
        run: memory::m2,
    },
    Workload {
        name: "mpi1",
        group: "mpi",
        run: mpi::mpi1,
    },
    Workload {
        name: "mpi2",
        group: "mpi",
        run: mpi::mpi2,
    },
    Workload {
        name: "mpi3",
        group: "mpi",
        run: mpi_hosts::mpi3,
    },
    Workload {
        name: "mpi4",
        group: "mpi",
        run: mpi_hosts::mpi4,
    },
    Workload {
        name: "mpi5",
        group: "mpi",
        run: mpi_hosts::mpi5,
    },
];

/// The workloads `only` names: comma-separated workload names, group names (`threads`,
/// `process`, `memory`, `mpi`) or `c1` (both C1s), case-insensitive; `all` for everything.
pub fn select(only: &str) -> Result<Vec<&'static Workload>, String> {
    let mut chosen: Vec<&'static Workload> = Vec::new();
    for word in only.split(',').map(|word| word.trim().to_ascii_lowercase()) {
        let matches: Vec<&'static Workload> = WORKLOADS
            .iter()
            .filter(|workload| {
                word == "all"
                    || workload.name == word
                    || workload.group == word
                    || (word == "c1" && workload.name.starts_with("c1-"))
            })
            .collect();
        if matches.is_empty() {
            let names: Vec<&str> = WORKLOADS.iter().map(|workload| workload.name).collect();
            return Err(format!(
                "no workload `{word}`; choose from {}, threads, process, memory, mpi, c1, all",
                names.join(", ")
            ));
        }
        for workload in matches {
            if !chosen.iter().any(|known| known.name == workload.name) {
                chosen.push(workload);
            }
        }
    }
    // Report order, whatever order they were named in.
    chosen.sort_by_key(|workload| position(workload.name));
    Ok(chosen)
}

/// Where the workload `name` stands in the report; unknown ones go last.
pub fn position(name: &str) -> usize {
    WORKLOADS
        .iter()
        .position(|workload| workload.name == name)
        .unwrap_or(WORKLOADS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(only: &str) -> Vec<&'static str> {
        select(only)
            .unwrap()
            .iter()
            .map(|workload| workload.name)
            .collect()
    }

    #[test]
    fn selection_by_name_group_and_alias() {
        assert_eq!(names("T2,t1"), ["t1", "t2"]);
        assert_eq!(names("memory"), ["m1", "m2"]);
        assert_eq!(names("mpi"), ["mpi1", "mpi2", "mpi3", "mpi4", "mpi5"]);
        assert_eq!(names("MPI2,m1"), ["m1", "mpi2"]);
        assert_eq!(names("c1"), ["c1-threads", "c1-process"]);
        assert_eq!(names("all").len(), WORKLOADS.len());
        assert!(select("t9").is_err());
    }

    #[test]
    fn positions_follow_the_catalog() {
        assert!(position("t1") < position("p4"));
        assert_eq!(position("c1-threads"), 3);
        assert_eq!(position("unknown"), WORKLOADS.len());
    }
}
