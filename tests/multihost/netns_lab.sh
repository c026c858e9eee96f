#!/usr/bin/env bash
# A lab of "hosts" on one machine: network namespaces joined by a bridge
# that lives in a namespace of its own (nothing leaves the lab), each host
# with its own hostname (a UTS namespace at launch: Open MPI tells nodes
# apart by name, and two ranks per unnamed host spin forever). mpirun runs
# in the first host and starts Open MPI's
# daemon in the others through an ssh stand-in, so all MPI traffic crosses
# the virtual links over TCP. Needs root. Usage (sourced or run):
#   netns_lab.sh up LAB N       hosts LAB-a, LAB-b, ... at 10.77.0.1, .2, ...
#   netns_lab.sh down LAB       kills what runs in them, removes them
#   netns_lab.sh mpirun LAB HOSTFILE ARGS...   mpirun in LAB-a over the lab
#   netns_lab.sh cut LAB HOST | mend LAB HOST  unplug / replug HOST (b, c...)
# LAB is short (at most 6 characters): it prefixes namespace and host names.
set -uo pipefail

lab_letters=(a b c d e f)

lab_up() {
  local lab=$1 n=$2 i h
  lab_down "$lab" 2>/dev/null
  ip netns add "$lab-sw" || return 1
  ip -n "$lab-sw" link add br0 type bridge && ip -n "$lab-sw" link set br0 up || return 1
  for ((i = 1; i <= n; ++i)); do
    h=${lab_letters[i - 1]}
    ip netns add "$lab-$h" || return 1
    ip link add "sw-$h" netns "$lab-sw" type veth peer name net0 netns "$lab-$h" || return 1
    ip -n "$lab-sw" link set "sw-$h" master br0
    ip -n "$lab-sw" link set "sw-$h" up
    ip -n "$lab-$h" link set lo up
    ip -n "$lab-$h" link set net0 address "02:77:00:00:00:0$i"  # fixed: no stale ARP after a mend
    ip -n "$lab-$h" addr add "10.77.0.$i/24" dev net0
    ip -n "$lab-$h" link set net0 up || return 1
    # A connection with data in flight to a lost host fails after ~25 s
    # instead of ~15 minutes (Linux's default 15 retries): mpirun's kill
    # orders to a cut host's daemon are such data.
    ip netns exec "$lab-$h" sysctl -q -w net.ipv4.tcp_retries2=5
  done
  # The ssh stand-in Open MPI calls as `AGENT HOST COMMAND...`.
  mkdir -p "/tmp/$lab-lab"
  cat >"/tmp/$lab-lab/rsh" <<AGENT
#!/bin/sh
host=\$1; shift
case \$host in
$(for ((i = 1; i <= n; ++i)); do h=${lab_letters[i - 1]}; echo "  10.77.0.$i|$lab-$h) ns=$lab-$h ;;"; done)
  *) echo "netns rsh: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c 'hostname "\$1"; shift; exec sh -c "\$*"' sh "\$ns" "\$@"
AGENT
  chmod +x "/tmp/$lab-lab/rsh"
}

lab_down() {
  local lab=$1 ns p
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$lab-"); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  sleep 0.2
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$lab-"); do ip netns del "$ns"; done
  rm -rf "/tmp/$lab-lab" /tmp/ompi."$lab"-*
}

# mpirun inside LAB-a (with LAB-a as its hostname); the rest of the
# arguments are mpirun's, then the program's. Every host sees all cores:
# --bind-to none and one thread per rank, or ranks of different hosts pile
# onto core 0. The keepalive settings make Open MPI notice a lost host's
# daemon in 10-20 s instead of ~8 minutes (its default).
lab_mpirun() {
  local lab=$1 hostfile=$2
  shift 2
  ip netns exec "$lab-a" unshare --uts sh -c 'hostname "$1"; shift; exec "$@"' sh "$lab-a" \
    mpirun --allow-run-as-root --hostfile "$hostfile" --bind-to none \
    --mca plm_rsh_agent "/tmp/$lab-lab/rsh" --mca oob_tcp_if_include 10.77.0.0/24 \
    --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 -x OMP_NUM_THREADS=1 \
    --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3 "$@"
}

lab_cut() { ip -n "$1-sw" link set "sw-$2" down; }
lab_mend() { ip -n "$1-sw" link set "sw-$2" up; }

# Can this machine make a lab? Prints why not.
lab_possible() {
  [[ $(id -u) == 0 ]] || { echo "not root: network namespaces need root"; return 1; }
  command -v ip >/dev/null || { echo "no ip command (iproute2)"; return 1; }
  command -v unshare >/dev/null || { echo "no unshare (util-linux)"; return 1; }
  ip netns add farm-probe-$$ 2>/dev/null || { echo "cannot make a network namespace here"; return 1; }
  local ok=0
  ip netns exec farm-probe-$$ unshare --uts true 2>/dev/null || ok=1
  ip netns del farm-probe-$$
  [[ $ok == 0 ]] || { echo "cannot make a UTS namespace here"; return 1; }
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  cmd=${1:-}
  shift || true
  case $cmd in
    up) lab_up "$@" ;; down) lab_down "$@" ;; mpirun) lab_mpirun "$@" ;; cut) lab_cut "$@" ;;
    mend) lab_mend "$@" ;; possible) lab_possible ;;
    *) echo "usage: $0 up LAB N | down LAB | mpirun LAB HOSTFILE ARGS... | cut LAB H | mend LAB H | possible" >&2
       exit 2 ;;
  esac
fi
