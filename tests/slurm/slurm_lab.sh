#!/usr/bin/env bash
# A one-node Slurm cluster on loopback for the tests: slurmctld + slurmd from
# Debian's slurm-wlm, all state in a scratch folder, no systemd, no cgroups,
# no munge (auth/none), ports of its own so a machine's real Slurm is left
# alone. The node claims 4 CPUs on any machine (config_overrides) so 4-rank
# jobs schedule without --overcommit. Needs root.
#   slurm_lab.sh possible      prints why not and fails, where it cannot run
#   slurm_lab.sh up DIR | down DIR
# Clients need SLURM_CONF=DIR/slurm.conf.
set -uo pipefail

slurm_possible() {
  [[ $(id -u) == 0 ]] || { echo "not root: slurmd must run as root"; return 1; }
  local b
  for b in slurmctld slurmd sbatch srun scontrol squeue; do
    command -v $b >/dev/null || { echo "no $b: install slurmctld slurmd slurm-client (Debian)"; return 1; }
  done
  local lib
  lib=$(dirname "$(find /usr/lib -name auth_none.so -path '*slurm*' 2>/dev/null | head -1)" 2>/dev/null)
  [[ -n $lib && -e $lib/mpi_pmix.so ]] || { echo "this Slurm has no auth/none or no mpi/pmix plugin"; return 1; }
}

slurm_wait() {  # slurm_wait SECONDS CMD...: poll CMD every 0.25 s
  local n=$(($1 * 4)) i
  shift
  for ((i = 0; i < n; ++i)); do "$@" && return 0; sleep 0.25; done
  return 1
}

slurm_up() {
  local d=$1
  slurm_down "$d" 2>/dev/null
  rm -rf "$d"
  mkdir -p "$d"/{state,spool,log,run}
  cat >"$d/slurm.conf" <<CONF
ClusterName=farmlab
SlurmctldHost=localhost
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
KillWait=10
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$d/slurm.conf
  slurmctld -i || { echo "slurmctld did not start: $(tail -3 "$d/log/slurmctld.log" 2>/dev/null)"; return 1; }
  slurmd -N localhost || { echo "slurmd did not start: $(tail -3 "$d/log/slurmd.log" 2>/dev/null)"; return 1; }
  slurm_wait 30 bash -c 'sinfo -h -o %T 2>/dev/null | grep -qx idle' ||
    { echo "the node did not come up idle in 30 s: $(tail -3 "$d/log/slurmd.log")"; return 1; }
}

slurm_down() {
  local d=$1 f p
  for f in "$d/run/slurmd.pid" "$d/run/slurmctld.pid"; do
    [[ -f $f ]] || continue
    p=$(cat "$f")
    kill -TERM "$p" 2>/dev/null || continue
    slurm_wait 15 bash -c "! kill -0 $p 2>/dev/null" || kill -9 "$p" 2>/dev/null
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    possible) slurm_possible ;; up) slurm_up "$2" ;; down) slurm_down "$2" ;;
    *) echo "usage: $0 possible | up DIR | down DIR" >&2; exit 2 ;;
  esac
fi
