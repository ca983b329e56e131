//! `cargo xtask cluster check|up|down`: the simulated two-host MPI cluster, made and removed by
//! `scripts/cluster.sh` (which is also OpenMPI's launch agent for it, through
//! `scripts/cluster-agent.sh`). This command only names the script's actions; the script holds
//! the one definition of the cluster, so a test or a person at a shell gets the same hosts.

use std::process::Command;

use crate::flags::{self, ClusterAction};
use crate::util::{self, Result};

impl flags::Cluster {
    pub(crate) fn run(&self) -> Result<()> {
        let script = util::project_root().join("scripts/cluster.sh");
        let mut command = Command::new(&script);
        match self.action {
            ClusterAction::Check => command.arg("check"),
            ClusterAction::Up => command.args(["up", &self.name]),
            ClusterAction::Down => command.args(["down", &self.name]),
        };
        util::run(&mut command)?;
        match self.action {
            ClusterAction::Check => {
                println!("cluster: network and UTS namespaces can be made here")
            }
            ClusterAction::Up => {
                let args = Command::new(&script)
                    .args(["mpirun-args", &self.name])
                    .output()
                    .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
                println!(
                    "cluster {name}: hosts {name}a (10.77.0.1) and {name}b (10.77.0.2)\n\
                     run on {name}a: {script} run {name} mpirun --host {name}a:1,{name}b:2 -n 3 {args} PROGRAM\n\
                     remove it: cargo xtask cluster down --name {name}",
                    name = self.name,
                    script = script.display(),
                    args = String::from_utf8_lossy(&args.stdout).trim(),
                );
            }
            ClusterAction::Down => println!("cluster {}: removed", self.name),
        }
        Ok(())
    }
}
