#!/usr/bin/env bash
# OpenMPI's plm_rsh_agent for the simulated cluster of cluster.sh: called as ssh would be
# (`cluster-agent.sh [options] HOST COMMAND...`), it runs COMMAND on HOST's namespaces.
exec "$(dirname "$(readlink -f "$0")")/cluster.sh" agent "$@"
