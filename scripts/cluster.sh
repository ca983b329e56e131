#!/usr/bin/env bash
# A simulated cluster on this machine for the MPI tests: two hosts, each its own network
# namespace (its own address; the hosts reach each other over TCP through a veth pair, so
# OpenMPI cannot use shared memory between them) and its own UTS namespace (its own host name).
# `mpirun` runs on the first host and starts the other host's daemon through `agent` below
# (OpenMPI's plm_rsh_agent), which enters that host instead of going through ssh.
#
#   cluster.sh check                  whether namespaces can be made here (exit 0) or why not
#   cluster.sh up NAME                make cluster NAME: hosts NAMEa (10.77.0.1), NAMEb (10.77.0.2)
#   cluster.sh down NAME              kill what runs on its hosts, remove it; never fails
#   cluster.sh pids NAME              what still runs on its hosts: "pid host command" per line
#   cluster.sh run NAME CMD...        run CMD on NAMEa (as mpirun's host)
#   cluster.sh on NAME HOST CMD...    run CMD on HOST (NAMEa or NAMEb)
#   cluster.sh agent HOST CMD...      plm_rsh_agent: run the shell command CMD on HOST
#   cluster.sh mpirun-args NAME       the mpirun arguments that address the cluster
#
# Only the namespaces' own interfaces are touched: never the machine's own network (the root
# namespace's interfaces and routes), which carries its only way out.
set -euo pipefail

SUBNET=10.77.0.0/24
SELF=$(readlink -f "$0")

fail() { echo "cluster: $*" >&2; exit 1; }

netns_of() { echo "cfx-$1"; }

# Runs CMD in HOST's network namespace with HOST as its host name (a new UTS namespace).
enter() {
  host=$1
  shift
  exec ip netns exec "$(netns_of "$host")" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

case "${1:-}" in
check)
  [ "$(id -u)" = 0 ] || fail "needs root (ip netns)"
  command -v ip >/dev/null || fail "needs iproute2 (ip)"
  command -v unshare >/dev/null || fail "needs util-linux (unshare)"
  probe="cfx-probe-$$"
  ip netns add "$probe" 2>/dev/null || fail "cannot create a network namespace here"
  why=""
  ip netns exec "$probe" unshare --uts true 2>/dev/null || why="cannot create a UTS namespace here"
  # The hosts are joined by a veth pair: a kernel without veth would fail only at `up`.
  if [ -z "$why" ]; then
    ip -n "$probe" link add probe0 type veth peer name probe1 2>/dev/null ||
      why="cannot create a veth pair here"
  fi
  ip netns del "$probe"
  [ -z "$why" ] || fail "$why"
  ;;
up)
  name=${2:?cluster.sh up NAME}
  a=${name}a
  b=${name}b
  # Leftovers of an earlier run of the same name go first.
  "$SELF" down "$name"
  ip netns add "$(netns_of "$a")"
  ip netns add "$(netns_of "$b")"
  ip link add veth0 netns "$(netns_of "$a")" type veth peer name veth0 netns "$(netns_of "$b")"
  i=1
  for host in "$a" "$b"; do
    ns=$(netns_of "$host")
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.77.0.$i/24" dev veth0
    ip -n "$ns" link set veth0 up
    # A cut-off peer must fail a TCP connection in seconds, not in TCP's default quarter of an
    # hour of retransmissions: mpirun and its daemons only learn of a lost host that way.
    # These are the namespace's own settings, not the machine's.
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_retries2=3 net.ipv4.tcp_syn_retries=1
    # `ip netns exec` bind-mounts these over /etc for commands in the namespace.
    mkdir -p "/etc/netns/$ns"
    printf '127.0.0.1 localhost\n10.77.0.1 %s\n10.77.0.2 %s\n' "$a" "$b" >"/etc/netns/$ns/hosts"
    echo "$host" >"/etc/netns/$ns/hostname"
    i=$((i + 1))
  done
  ;;
down)
  name=${2:?cluster.sh down NAME}
  for host in "${name}a" "${name}b"; do
    ns=$(netns_of "$host")
    if ip netns list | grep -qw "$ns"; then
      # Whatever the job left there; stopped processes die of SIGKILL too.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
    rm -rf "/etc/netns/$ns"
  done
  # `up` made /etc/netns if it was missing; an empty one is all that would be left of it.
  rmdir /etc/netns 2>/dev/null || true
  ;;
pids)
  name=${2:?cluster.sh pids NAME}
  for host in "${name}a" "${name}b"; do
    for pid in $(ip netns pids "$(netns_of "$host")" 2>/dev/null); do
      echo "$pid $host $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    done
  done
  ;;
run)
  name=${2:?cluster.sh run NAME CMD...}
  shift 2
  enter "${name}a" "$@"
  ;;
on)
  host=${3:?cluster.sh on NAME HOST CMD...}
  shift 3
  enter "$host" "$@"
  ;;
agent)
  # OpenMPI calls the agent as it would call ssh: `agent [options] HOST COMMAND...`, the
  # command words to be joined and run by a shell on HOST.
  shift
  while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
  host=${1:?agent HOST CMD}
  shift
  enter "$host" sh -c "$*"
  ;;
mpirun-args)
  name=${2:?cluster.sh mpirun-args NAME}
  echo "--mca plm_rsh_agent $(dirname "$SELF")/cluster-agent.sh --mca oob_tcp_if_include $SUBNET --mca btl self,vader,tcp --mca btl_tcp_if_include $SUBNET"
  ;;
*)
  sed -n '2,20p' "$SELF" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
