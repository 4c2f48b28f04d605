#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try the cluster path (hydra/launcher=slurm_cpu, slurm) and to
# run `pytest -m slurm` (docs/cluster.md). Debian or Ubuntu, as root (it installs packages and starts daemons).
#
#   scripts/slurm_local.sh start    install slurm-wlm + munge if missing, write the config, start munged,
#                                   slurmctld and slurmd, wait until `sinfo` shows the node idle
#   scripts/slurm_local.sh stop     cancel the cluster's jobs, stop the daemons this script started
#   scripts/slurm_local.sh status   what runs, the node's state, the queue
#
# Every command can be run twice: start on a running cluster only checks it; stop on a stopped one says so.
# State, pid files and logs go under $UVB_SLURM_DIR (default /tmp/uvb-slurm). The only file written outside
# it is slurm.conf at /etc/slurm/slurm.conf, where sbatch, squeue and sinfo look for it by default; an existing
# slurm.conf that this script did not write is never overwritten.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin   # the daemons live there, and a non-login shell may not have it

# ---- The whole configuration: this block and the slurm.conf written by write_conf below ------------------------
UVB_SLURM_DIR=${UVB_SLURM_DIR:-/tmp/uvb-slurm}
CONF=/etc/slurm/slurm.conf          # slurm.conf (clients read this path unless SLURM_CONF says otherwise)
MUNGE_KEY=/etc/munge/munge.key      # the Debian package's key; made here when missing
MUNGE_SOCKET=/run/munge/munge.socket.2  # munged's and SLURM's default socket
CLUSTER=uvb-local                   # ClusterName
PARTITION=debug                     # the one partition, the default one
CTLD_PORT=6817                      # slurmctld's port (SLURM's default)
SLURMD_PORT=6818                    # slurmd's port (SLURM's default)
REQUEUE_DELAY_S=10                  # a requeued job waits this long before it may start again (SLURM: 120)
KILL_WAIT_S=5                       # seconds between SIGTERM and SIGKILL when a job hits its time limit
OVER_TIME_LIMIT_MIN=0               # minutes a job may run past its time limit before that SIGTERM
START_TIMEOUT_S=90                  # how long `start` waits for the node to show idle
MARK="# Written by uvb-lab scripts/slurm_local.sh"
# ------------------------------------------------------------------------------------------------------------------

LOG_DIR=$UVB_SLURM_DIR/log
RUN_DIR=$UVB_SLURM_DIR/run
STATE_DIR=$UVB_SLURM_DIR/state
MUNGED_PID=$RUN_DIR/munge/munged.pid   # written by munged itself (it runs as the munge user)
CTLD_PID=$RUN_DIR/slurmctld.pid
SLURMD_PID=$RUN_DIR/slurmd.pid

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: error: $*" >&2; exit 1; }

alive() {  # alive PIDFILE: the pid in PIDFILE is a running process
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root: it installs packages, writes $CONF and starts daemons as root"
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)   # slurmctld, slurmd and the client commands
    command -v munged >/dev/null || missing+=(munge)
    [[ ${#missing[@]} -eq 0 ]] && return
    command -v apt-get >/dev/null || die "${missing[*]} missing and no apt-get here: install SLURM and munge yourself"
    say "installing ${missing[*]} (apt-get; about a minute)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

node_line() {
    # This machine as slurmd sees it (CPUs, sockets, cores, threads, memory in MB), so the node registers
    # exactly as configured; `slurmd -C` prints it, with an UpTime line that is no config.
    slurmd -C | grep '^NodeName='
}

write_conf() {  # write_conf FILE: the slurm.conf of this one-node cluster
    local node
    node=$(node_line | sed -E 's/^NodeName=([^ ]+).*/\1/')
    cat > "$1" <<EOF
$MARK: 'scripts/slurm_local.sh stop' stops it.
# One node (this machine) running slurmctld and slurmd as root; no accounting, no cgroups.
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: also how long a requeued job waits before it may start again (SLURM's default: 120 s)
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$REQUEUE_DELAY_S
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroup.conf needed: processes are tracked by their parent pid, tasks are not bound to cores.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
# Cores and memory are what jobs ask for (--cpus-per-task, --mem); two 1-core jobs fit a 2-core node at once.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
# A job at its time limit: SIGTERM after OverTimeLimit minutes, SIGKILL KillWait seconds later.
OverTimeLimit=$OVER_TIME_LIMIT_MIN
KillWait=$KILL_WAIT_S
# Requeued jobs (submitit on preemption and timeout: scontrol requeue) go back to the queue, not on hold.
JobRequeue=1
ReturnToService=2
$(node_line) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

munge_ok() { munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }
sinfo_ok() { timeout 10 sinfo -h >/dev/null 2>&1; }
node_state() { timeout 10 sinfo -h -N -o '%t' 2>/dev/null | head -n1; }

start_munged() {
    if munge_ok; then
        say "munged: already running (socket $MUNGE_SOCKET)"
        return
    fi
    if [[ ! -s $MUNGE_KEY ]]; then
        say "writing a munge key to $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null; then mungekey --create --keyfile="$MUNGE_KEY" --force; else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none; fi
    fi
    chown munge:munge "$MUNGE_KEY" && chmod 400 "$MUNGE_KEY"
    # munged runs as the munge user and refuses directories others can write to.
    install -d -o munge -g munge -m 0755 "$(dirname "$MUNGE_SOCKET")" /var/lib/munge "$RUN_DIR/munge"
    install -o munge -g munge -m 0640 /dev/null "$LOG_DIR/munged.log"
    runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" \
        --pid-file="$MUNGED_PID" --log-file="$LOG_DIR/munged.log"
    for _ in $(seq 20); do munge_ok && break; sleep 0.5; done
    munge_ok || die "munged did not start; see $LOG_DIR/munged.log"
    say "munged: started (pid $(cat "$MUNGED_PID"), log $LOG_DIR/munged.log)"
}

start() {
    need_root
    install_packages
    mkdir -p "$LOG_DIR" "$RUN_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
    chmod 0755 "$UVB_SLURM_DIR" "$LOG_DIR" "$RUN_DIR"
    if [[ -e $CONF ]] && ! head -n1 "$CONF" | grep -qF "$MARK"; then
        die "$CONF exists and was not written by this script (a real cluster's?); move it away to use this one"
    fi
    local new
    new=$(mktemp)
    write_conf "$new"
    if [[ -e $CONF ]] && cmp -s "$new" "$CONF"; then
        rm -f "$new"
    else
        mkdir -p "$(dirname "$CONF")"
        if alive "$CTLD_PID" || alive "$SLURMD_PID"; then
            say "$CONF changed: restarting slurmctld and slurmd"
            stop_slurm
        fi
        mv "$new" "$CONF" && chmod 0644 "$CONF"
        say "wrote $CONF"
    fi
    start_munged
    if alive "$CTLD_PID"; then say "slurmctld: already running (pid $(cat "$CTLD_PID"))"; else
        slurmctld -f "$CONF"   # forks; writes $CTLD_PID
        say "slurmctld: started (log $LOG_DIR/slurmctld.log)"
    fi
    if alive "$SLURMD_PID"; then say "slurmd: already running (pid $(cat "$SLURMD_PID"))"; else
        slurmd -f "$CONF"
        say "slurmd: started (log $LOG_DIR/slurmd.log)"
    fi
    say "waiting for the node to show idle in sinfo (up to ${START_TIMEOUT_S} s)"
    local state="" deadline=$((SECONDS + START_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        state=$(node_state || true)
        case $state in
            idle|mix|alloc) break ;;
            drain*|down*|inval*|fail*)  # e.g. left down by an earlier run: give it back to the scheduler
                scontrol update NodeName="$(node_line | sed -E 's/^NodeName=([^ ]+).*/\1/')" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 1
    done
    case $state in
        idle|mix|alloc) ;;
        *) die "the node is '${state:-not answering}' after ${START_TIMEOUT_S} s; see $LOG_DIR/slurmctld.log and slurmd.log" ;;
    esac
    sinfo
    say "ready: try 'sbatch --wrap hostname' or 'pytest -m slurm'; stop it with '$0 stop'"
}

stop_daemon() {  # stop_daemon NAME PIDFILE
    if ! alive "$2"; then
        say "$1: not running"
        rm -f "$2"
        return
    fi
    local pid
    pid=$(cat "$2")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; say "$1: killed (pid $pid, did not stop in 10 s)"; else say "$1: stopped (pid $pid)"; fi
    rm -f "$2"
}

stop_slurm() {
    if alive "$CTLD_PID" && sinfo_ok; then
        local jobs
        jobs=$(squeue -h -o '%A' 2>/dev/null | tr '\n' ' ')
        if [[ -n ${jobs// /} ]]; then
            say "cancelling jobs: $jobs"
            # shellcheck disable=SC2086
            scancel $jobs || true
            for _ in $(seq 20); do [[ -z $(squeue -h -o '%A' 2>/dev/null) ]] && break; sleep 0.5; done
        fi
    fi
    stop_daemon slurmd "$SLURMD_PID"
    stop_daemon slurmctld "$CTLD_PID"
}

stop() {
    need_root
    stop_slurm
    if [[ -e $MUNGED_PID ]]; then stop_daemon munged "$MUNGED_PID"; elif munge_ok; then
        say "munged: not started by this script, left running"; else say "munged: not running"; fi
    say "stopped; logs stay in $LOG_DIR"
}

status() {
    local name file
    for name in munged slurmctld slurmd; do
        case $name in munged) file=$MUNGED_PID ;; slurmctld) file=$CTLD_PID ;; slurmd) file=$SLURMD_PID ;; esac
        if alive "$file"; then say "$name: running (pid $(cat "$file"))"; else say "$name: not running (no live pid in $file)"; fi
    done
    if munge_ok; then say "munge: answers on $MUNGE_SOCKET"; fi
    if [[ -e $CONF ]]; then say "config: $CONF"; fi
    say "logs: $LOG_DIR"
    if sinfo_ok; then
        say "node: $(node_state)"
        sinfo
        squeue
        return 0
    fi
    say "the cluster does not answer (sinfo failed)"
    return 3
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status   (state and logs in \$UVB_SLURM_DIR, now $UVB_SLURM_DIR)" >&2; exit 2 ;;
esac
