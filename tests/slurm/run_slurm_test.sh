#!/usr/bin/env bash
# End-to-end test of profiles/slurm against a real single-node Slurm on this machine (`make test-slurm`).
#
# What it does, as root on a disposable machine (a CI runner, a container, a VM), without systemd:
#   1. installs Debian's slurmctld, slurmd, slurmdbd, munge and mariadb-server when missing (apt-get);
#   2. writes /etc/slurm/slurm.conf, slurmdbd.conf and gres.conf for one node on localhost with this machine's
#      CPUs and memory (the plugin's job step clears SLURM_CONF, so the config must be at the default path),
#      cgroup-free (proctrack/linuxproc, task/none), with accounting through slurmdbd on a local MariaDB;
#   3. starts munged, mariadbd, slurmdbd, slurmctld and slurmd by hand, creates the cluster, an account and
#      root's association with sacctmgr, and waits until the node is idle;
#   4. runs config/slurm_test.yaml through `snakemake --profile profiles/slurm --profile tests/slurm/profile`
#      with the plugin in its default `sacct` status mode;
#   5. checks: snakemake succeeded; every output of the DAG exists (--summary); every non-local job went
#      through Slurm and sacct reports it COMPLETED under its rule name (the job comment); exactly the neural
#      recon jobs hold a GPU (sacct AllocTRES); the tables equal those of a local run of the same config
#      (profiles/local, in a scratch directory);
#   6. always stops the daemons it started (trap), cancels leftover jobs, prints PASS/FAIL, exits non-zero
#      on failure.
#
# Environment (all optional):
#   CARDIOMM_TEST_MODELS        folder with cardiomm.pt, varnet.pt, segmentation.pt (default: cardiomm/weights)
#   CARDIOMM_SLURM_TEST_GPU     fake (default): the node advertises one fake GPU (gres/gpu backed by
#                               /dev/null), so GPU jobs really go through `sbatch --gpus=1` and run on the CPU;
#                               none: the node has no GPU and CARDIOMM_SLURM_GPUS=0 makes the profile ask for
#                               none (how to run on a cluster without GPUs)
#   CARDIOMM_SLURM_TEST_JOBS    Slurm jobs submitted at once (default 4). A 2-CPU node runs 2; the others wait
#                               in Slurm's queue, so the plugin's 5 s pause before each sbatch and its status
#                               back-off do not leave the node idle (2: 536 s, 4: 321 s for the same DAG)
#   CARDIOMM_SLURM_TEST_TIMEOUT seconds before the workflow run is killed (default 3600)
#   CARDIOMM_SLURM_TEST_LOCAL   1 (default): also run locally and compare tables; 0: skip that
#   CARDIOMM_SLURM_TEST_WORK    scratch folder for logs and the local run (default: a new /tmp/cardiomm-slurm.*)
#   CARDIOMM_SLURM_TEST_SETUP_ONLY  1: only bring Slurm up, probe it and stop it again (debugging the setup)
#
# It refuses to touch a machine whose Slurm it did not configure (an existing /etc/slurm/slurm.conf without
# its marker line, or Slurm daemons already running).

set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 2

MARKER="# written by cardiomm tests/slurm/run_slurm_test.sh"
CLUSTER=cardiomm
ACCOUNT=cardiomm
NODE="$(hostname -s)"
CONFIG="config/slurm_test.yaml"
COHORT=slurm_test
GPU_MODE="${CARDIOMM_SLURM_TEST_GPU:-fake}"
JOBS="${CARDIOMM_SLURM_TEST_JOBS:-4}"
TIMEOUT="${CARDIOMM_SLURM_TEST_TIMEOUT:-3600}"
DO_LOCAL="${CARDIOMM_SLURM_TEST_LOCAL:-1}"
MODELS_DIR="${CARDIOMM_TEST_MODELS:-$REPO/cardiomm/weights}"
WORK="${CARDIOMM_SLURM_TEST_WORK:-$(mktemp -d /tmp/cardiomm-slurm.XXXXXX)}"
mkdir -p "$WORK"
VENV_BIN="$REPO/.venv/bin"
SMK="$VENV_BIN/snakemake"
PY="$VENV_BIN/python"

declare -a STARTED=()      # "name:pid" of the daemons this script started, stopped in reverse order
declare -a RESULTS=()      # "PASS|FAIL: check" lines for the summary
FAILED=0

log() { printf '[slurm-test %(%H:%M:%S)T] %s\n' -1 "$*"; }
pass() { RESULTS+=("PASS: $*"); log "PASS: $*"; }
fail() { RESULTS+=("FAIL: $*"); log "FAIL: $*"; FAILED=1; }
die() { fail "$*"; exit 1; }   # the EXIT trap prints the summary and stops the daemons

summary() {
    echo
    echo "================ Slurm workflow test summary ================"
    printf '%s\n' "${RESULTS[@]}"
    echo "logs: $WORK"
    if [[ $FAILED -eq 0 && ${#RESULTS[@]} -gt 0 ]]; then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
    echo "=============================================================="
}

stop_daemons() {
    local rc=$?
    if command -v squeue >/dev/null 2>&1 && [[ ${#STARTED[@]} -gt 0 ]]; then
        # our own throwaway cluster: cancel whatever a failed run left queued
        local left
        left="$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
        [[ -n "${left// /}" ]] && { log "cancelling leftover jobs: $left"; timeout 10 scancel $left; }
    fi
    local i entry name pid
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        entry="${STARTED[$i]}"; name="${entry%%:*}"; pid="${entry##*:}"
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$pid" 2>/dev/null && { log "$name did not stop, killing"; kill -KILL "$pid" 2>/dev/null; }
        fi
    done
    summary
    [[ $FAILED -ne 0 ]] && exit 1
    exit "$rc"
}
trap stop_daemons EXIT
trap 'fail "interrupted"; exit 130' INT TERM

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every second until it succeeds
    local secs=$1 what=$2; shift 2
    local t0=$SECONDS
    until "$@" >/dev/null 2>&1; do
        (( SECONDS - t0 >= secs )) && return 1
        sleep 1
    done
    log "$what after $((SECONDS - t0)) s"
}

# ----------------------------------------------------------------------------------------------- preflight
[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, writes /etc/slurm, starts daemons)"
[[ -x "$SMK" ]] || die "$SMK missing: run 'make install' first"
[[ "$GPU_MODE" == fake || "$GPU_MODE" == none ]] || die "CARDIOMM_SLURM_TEST_GPU must be fake or none, not '$GPU_MODE'"
for m in cardiomm varnet segmentation; do
    [[ -s "$MODELS_DIR/$m.pt" ]] || die "model $MODELS_DIR/$m.pt missing (train and 'make weights', or set CARDIOMM_TEST_MODELS)"
done
MODELS_DIR="$(cd "$MODELS_DIR" && pwd)"
MODELS_CFG="$WORK/models.yaml"   # absolute paths, so that the local run in a scratch folder finds them too
printf 'models:\n  cardiomm: %s/cardiomm.pt\n  varnet: %s/varnet.pt\n  segmentation: %s/segmentation.pt\n' \
    "$MODELS_DIR" "$MODELS_DIR" "$MODELS_DIR" > "$MODELS_CFG"
log "repository $REPO, models $MODELS_DIR, GPU mode $GPU_MODE, $JOBS jobs at once, scratch $WORK"

# ----------------------------------------------------------------------------------------------- packages
need_pkgs=0
for b in slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mariadbd; do
    command -v "$b" >/dev/null 2>&1 || [[ -x "/usr/sbin/$b" ]] || need_pkgs=1
done
if [[ $need_pkgs -eq 1 ]]; then
    log "installing slurm-wlm (slurmctld, slurmd, slurmdbd), munge, mariadb-server with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client slurmdbd munge mariadb-server; } > "$WORK/apt.log" 2>&1 \
        || die "apt-get install failed (see $WORK/apt.log)"
fi
export PATH="/usr/sbin:$PATH"
SLURM_VERSION="$(slurmctld -V 2>/dev/null)"
log "${SLURM_VERSION:-unknown Slurm version}"

# ----------------------------------------------------------------------------------------------- safety
for d in slurmctld slurmd slurmdbd; do
    pgrep -x "$d" >/dev/null && die "$d is already running: this test only runs on a machine whose Slurm it starts itself"
done
if [[ -e /etc/slurm/slurm.conf ]] && ! grep -qF "$MARKER" /etc/slurm/slurm.conf; then
    die "/etc/slurm/slurm.conf exists and was not written by this test: refusing to overwrite it"
fi

# ----------------------------------------------------------------------------------------------- configs
# this machine as slurmd sees it: CPUs, sockets, cores, threads; RealMemory 90 % of it (slack for slurmd)
HW="$(slurmd -C | head -1)"
NODE_HW="$(sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//' <<< "$HW")"
MEM_MB="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<< "$HW")"
REAL_MEM=$(( MEM_MB * 9 / 10 ))
CPUS="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<< "$HW")"
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/slurm
GRES_NODE=""; GRES_TYPES=""
if [[ "$GPU_MODE" == fake ]]; then
    GRES_TYPES="GresTypes=gpu"; GRES_NODE="Gres=gpu:1"
    # one fake GPU backed by /dev/null: GPU jobs are scheduled as on a GPU node, then run on the CPU
    printf '%s\nAutoDetect=off\nNodeName=%s Name=gpu File=/dev/null\n' "$MARKER" "$NODE" > /etc/slurm/gres.conf
else
    rm -f /etc/slurm/gres.conf
fi
cat > /etc/slurm/slurm.conf <<EOF
$MARKER
# A single-node test cluster on localhost: no systemd, no cgroups, accounting through slurmdbd.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# the plugin writes "rule_<name>_wildcards_<...>" into the job comment; store it so sacct can show it
AccountingStoreFlags=job_comment
# record GPUs in sacct's AllocTRES, so the test can see which jobs really asked Slurm for one
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
$GRES_TYPES
NodeName=$NODE NodeAddr=127.0.0.1 $NODE_HW RealMemory=$REAL_MEM $GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
DB_PASS="cardiomm-test-$$"
cat > /etc/slurm/slurmdbd.conf <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf
log "wrote /etc/slurm/slurm.conf: node $NODE, $CPUS CPUs, RealMemory $REAL_MEM MB, GPU: $GPU_MODE"

# ----------------------------------------------------------------------------------------------- daemons
start_bg() {  # start_bg NAME COMMAND...: start a foreground-mode daemon in the background, remember its pid
    local name=$1; shift
    "$@" > "$WORK/$name.out" 2>&1 &
    STARTED+=("$name:$!")
    log "started $name (pid $!)"
}

T_START=$SECONDS
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running: using it (not stopping it afterwards)"
else
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile=/etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
    start_bg munged runuser -u munge -- /usr/sbin/munged --foreground
    wait_for 20 "munged answers" bash -c 'munge -n | unmunge' || die "munged did not start (see $WORK/munged.out)"
fi

if mariadb-admin ping >/dev/null 2>&1; then
    log "MariaDB already running: using it (not stopping it afterwards)"
else
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start_bg mariadbd /usr/sbin/mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
        --pid-file=/run/mysqld/mysqld.pid
    wait_for 60 "MariaDB answers" mariadb-admin ping || die "MariaDB did not start (see $WORK/mariadbd.out)"
fi
mariadb -u root <<EOF || die "cannot create the accounting database"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF

start_bg slurmdbd /usr/sbin/slurmdbd -D
wait_for 60 "slurmdbd answers" sacctmgr -n show cluster || die "slurmdbd did not start (see /var/log/slurm/slurmdbd.log)"
sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null \
    || die "sacctmgr add cluster failed"
sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT" \
    || sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="cardiomm test" Organization=cardiomm >/dev/null \
    || die "sacctmgr add account failed"
sacctmgr -n -P show assoc where user=root account="$ACCOUNT" format=account | grep -qx "$ACCOUNT" \
    || sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null \
    || die "sacctmgr add user failed"
log "accounting: cluster $CLUSTER, account $ACCOUNT, user root"

start_bg slurmctld /usr/sbin/slurmctld -D -c   # -c: a fresh controller state (no jobs from earlier runs)
wait_for 60 "slurmctld answers" scontrol ping || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
start_bg slurmd /usr/sbin/slurmd -D
node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null; }
t0=$SECONDS; resumed=0
until [[ "$(node_state)" == idle ]]; do
    st="$(node_state)"
    if [[ $resumed -eq 0 && $((SECONDS - t0)) -ge 10 && "$st" =~ ^(down|drain|drained|inval) ]]; then
        scontrol update nodename="$NODE" state=resume >/dev/null 2>&1; resumed=1
    fi
    (( SECONDS - t0 >= 90 )) && die "node $NODE not idle after 90 s: $(sinfo -h -N -o '%N %T %E') (see /var/log/slurm/slurmd.log)"
    sleep 1
done
log "node $NODE idle after $((SECONDS - t0)) s"
T_UP=$((SECONDS - T_START))
pass "Slurm up without systemd in ${T_UP} s ($SLURM_VERSION, accounting via slurmdbd)"

# a GPU job exactly as the plugin submits one, to check the node config before the workflow needs it
if [[ "$GPU_MODE" == fake ]]; then
    jid="$(sbatch --parsable -A "$ACCOUNT" -t 2 --mem 100 --gpus=1 --ntasks-per-gpu=1 --cpus-per-task=1 \
        -o "$WORK/gpu_probe.out" --wrap 'srun -n1 --gpus=1 --nodes=1 true')" || die "sbatch with --gpus=1 rejected"
    gpu_done() { [[ "$(sacct -n -X -j "$jid" -o State 2>/dev/null | tr -d ' ')" =~ ^(COMPLETED|FAILED|CANCELLED.*|TIMEOUT)$ ]]; }
    wait_for 90 "GPU probe job $jid finished" gpu_done || die "GPU probe job $jid did not finish"
    st="$(sacct -n -X -j "$jid" -o State | tr -d ' ')"
    [[ "$st" == COMPLETED ]] && pass "a --gpus=1 job runs on the (fake-GPU) node" \
        || die "GPU probe job $jid ended $st (see $WORK/gpu_probe.out)"
fi

[[ "${CARDIOMM_SLURM_TEST_SETUP_ONLY:-0}" == 1 ]] && { log "setup only: stopping here"; exit 0; }

# ----------------------------------------------------------------------------------------------- workflow
export CARDIOMM_SLURM_ACCOUNT="$ACCOUNT"   # the site settings of profiles/slurm, as a user would set them
unset CARDIOMM_SLURM_PARTITION CARDIOMM_SLURM_GPU_PARTITION CARDIOMM_SLURM_GPU_MODEL
if [[ "$GPU_MODE" == none ]]; then export CARDIOMM_SLURM_GPUS=0; else unset CARDIOMM_SLURM_GPUS; fi
SMK_ARGS=(--configfile "$CONFIG" "$MODELS_CFG")

# expected jobs, from a dry run of the same command
"$SMK" --profile profiles/slurm --profile tests/slurm/profile "${SMK_ARGS[@]}" --forceall -n --quiet rules \
    > "$WORK/dryrun.txt" 2>&1 || die "dry run failed (see $WORK/dryrun.txt)"
EXPECTED_JOBS="$(awk '$1 == "total" {print $2; exit}' "$WORK/dryrun.txt")"
log "the DAG has $EXPECTED_JOBS jobs"

# a fresh run: remove this test cohort's earlier outputs (nothing else)
rm -rf "data/$COHORT" "results/$COHORT" "logs/$COHORT" "benchmarks/runs/$COHORT"
log "running: snakemake --profile profiles/slurm --profile tests/slurm/profile --jobs $JOBS ${SMK_ARGS[*]}"
T0=$SECONDS
timeout "$TIMEOUT" "$SMK" --profile profiles/slurm --profile tests/slurm/profile --jobs "$JOBS" "${SMK_ARGS[@]}" \
    > "$WORK/slurm_run.log" 2>&1
RC=$?
SLURM_WALL=$((SECONDS - T0))
if [[ $RC -eq 0 ]]; then
    pass "snakemake --profile profiles/slurm finished in ${SLURM_WALL} s"
elif [[ $RC -eq 124 ]]; then
    fail "snakemake --profile profiles/slurm timed out after ${TIMEOUT} s (see $WORK/slurm_run.log)"
else
    fail "snakemake --profile profiles/slurm exited $RC after ${SLURM_WALL} s (see $WORK/slurm_run.log)"
    tail -40 "$WORK/slurm_run.log"
fi

# every output of the DAG exists and is up to date
"$SMK" --profile profiles/local "${SMK_ARGS[@]}" --summary > "$WORK/summary.tsv" 2> "$WORK/summary.err"
n_out="$(awk -F'\t' 'NR > 1' "$WORK/summary.tsv" | wc -l)"
n_bad="$(awk -F'\t' 'NR > 1 && ($5 != "ok" || $6 != "no update")' "$WORK/summary.tsv" | wc -l)"
if [[ $n_out -gt 0 && $n_bad -eq 0 ]]; then
    pass "all $n_out output files of the DAG exist and are up to date"
else
    fail "$n_bad of $n_out output files missing or not up to date (see $WORK/summary.tsv)"
    awk -F'\t' 'NR > 1 && ($5 != "ok" || $6 != "no update") {print "    " $1 "  " $5 "  " $6}' "$WORK/summary.tsv" | head -20
fi

# every non-local job went through Slurm and sacct shows it COMPLETED under its rule's name
RUN_ID="$(sed -n 's/.*SLURM run ID: \([0-9a-f-]*\).*/\1/p' "$WORK/slurm_run.log" | head -1)"
grep -o 'has been submitted with SLURM jobid [0-9]* (log: [^)]*)' "$WORK/slurm_run.log" \
    | sed 's/.*jobid \([0-9]*\) (log: .*\/rule_\([A-Za-z0-9_]*\)\/.*/\1 \2/' > "$WORK/submitted.txt"
n_sub="$(wc -l < "$WORK/submitted.txt")"
n_local="$(grep -c '^localrule ' "$WORK/slurm_run.log")"
sacct -n -X -P --starttime now-1days --name "$RUN_ID" -o JobIDRaw,State,Elapsed,AllocTRES%200,Comment%300 \
    > "$WORK/sacct.txt" 2>&1
"$PY" - "$WORK" "$n_sub" "$n_local" "$EXPECTED_JOBS" "$GPU_MODE" <<'EOF' > "$WORK/slurm_jobs.txt"
import collections, re, sys
work, n_sub, n_local = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
expected, gpu_mode = int(sys.argv[4] or 0), sys.argv[5]
sub = dict(line.split() for line in open(f"{work}/submitted.txt") if line.strip())
acct = {}
for line in open(f"{work}/sacct.txt"):
    parts = line.rstrip("\n").split("|")
    if len(parts) >= 5:
        acct[parts[0]] = (parts[1], parts[2], parts[3], parts[4])
problems = []
per_rule = collections.Counter()
gpu_jobs = []
for jid, rule in sub.items():
    state, _, tres, comment = acct.get(jid, ("MISSING", "", "", ""))
    if state != "COMPLETED":
        problems.append(f"job {jid} ({rule}): sacct state {state}")
    elif not comment.startswith(f"rule_{rule}"):
        problems.append(f"job {jid} ({rule}): sacct comment {comment!r} does not name the rule")
    else:
        per_rule[rule] += 1
    # GPUs: exactly the neural reconstructions ask for one (none at all on a node without GPUs)
    has_gpu = bool(re.search(r"gres/gpu=[1-9]", tres))
    neural = rule.startswith("train_") or bool(re.match(r"rule_recon_wildcards_(cardiomm|varnet)_", comment))
    if has_gpu:
        gpu_jobs.append(comment)
    if has_gpu != (neural and gpu_mode == "fake"):
        problems.append(f"job {jid} ({comment}): AllocTRES {tres!r} but expected {'a' if neural else 'no'} GPU")
print("gpu_jobs", len(gpu_jobs), ", ".join(sorted(gpu_jobs)))
extra = sorted(set(acct) - set(sub))
if extra:
    problems.append(f"sacct lists jobs the log does not: {extra}")
# every job of the DAG ran: the Slurm jobs plus the local ones (rule all and any localrules)
if expected and n_sub + n_local != expected:
    problems.append(f"{n_sub} Slurm + {n_local} local jobs != {expected} jobs in the DAG")
print("slurm_jobs", n_sub, "local_jobs", n_local, "expected", expected)
for rule, n in sorted(per_rule.items()):
    print(f"  {rule:22s} {n:3d}")
for p in problems:
    print("PROBLEM", p)
sys.exit(1 if problems or n_sub == 0 else 0)
EOF
if [[ $? -eq 0 ]]; then
    n_gpu="$(awk '$1 == "gpu_jobs" {print $2}' "$WORK/slurm_jobs.txt")"
    pass "$n_sub jobs went through Slurm, all COMPLETED in sacct under their rule names ($n_gpu with a GPU: exactly the neural recon jobs); $n_local ran locally"
else
    fail "Slurm job accounting does not match the run (see $WORK/slurm_jobs.txt)"
fi
sed 's/^/    /' "$WORK/slurm_jobs.txt"
SLURM_ELAPSED="$(awk -F'|' '{split($3, t, ":"); s += t[1] * 3600 + t[2] * 60 + t[3]} END {print s + 0}' "$WORK/sacct.txt")"

# the same config run locally gives the same tables
if [[ "$DO_LOCAL" == 1 ]]; then
    LOCAL_DIR="$WORK/local"
    LOCAL_CORES=$(( CPUS < JOBS ? CPUS : JOBS ))   # as many cores as the Slurm node ran jobs at once
    log "local run of the same config in $LOCAL_DIR (profiles/local, --cores $LOCAL_CORES)"
    T0=$SECONDS
    "$SMK" --profile profiles/local --cores "$LOCAL_CORES" --directory "$LOCAL_DIR" \
        --configfile "$REPO/$CONFIG" "$MODELS_CFG" > "$WORK/local_run.log" 2>&1
    LRC=$?
    LOCAL_WALL=$((SECONDS - T0))
    if [[ $LRC -ne 0 ]]; then
        fail "local run exited $LRC (see $WORK/local_run.log)"
    else
        log "local run finished in ${LOCAL_WALL} s"
        if "$PY" "$REPO/tests/slurm/compare_tables.py" "results/$COHORT/tables" "$LOCAL_DIR/results/$COHORT/tables" \
            > "$WORK/compare.txt" 2>&1; then
            pass "tables identical to a local run: $(tr '\n' ' ' < "$WORK/compare.txt")"
        else
            fail "tables differ from the local run (see $WORK/compare.txt)"
            sed 's/^/    /' "$WORK/compare.txt" | head -40
        fi
    fi
fi

{
    echo "slurm_version: $SLURM_VERSION"
    echo "gpu_mode: $GPU_MODE"
    echo "jobs_at_once: $JOBS"
    echo "daemons_up_s: $T_UP"
    echo "slurm_run_wall_s: $SLURM_WALL"
    echo "slurm_jobs: $n_sub"
    echo "slurm_gpu_jobs: ${n_gpu:-?}"
    echo "local_jobs: $n_local"
    echo "dag_jobs: $EXPECTED_JOBS"
    echo "sum_of_slurm_job_elapsed_s: $SLURM_ELAPSED"
    echo "local_run_wall_s: ${LOCAL_WALL:-skipped}"
} > "$WORK/numbers.txt"
sed 's/^/    /' "$WORK/numbers.txt"
