#!/bin/bash
# Run groups of experiment tables concurrently (one GPU shared by every worker process).
# usage: experiments/run_groups.sh ROOT DEVICE "JOBS:table table ..." ["JOBS:table ..." ...]
# Tables inside a group run one after another with JOBS worker processes; groups run side by side.
set -u
root=$1 dev=$2
shift 2
mkdir -p "$root"
for grp in "$@"; do
  jobs=${grp%%:*} tables=${grp#*:}
  (python experiments/tables.py $tables --device "$dev" --jobs "$jobs" --root "$root" \
    >"$root/log_${tables%% *}.txt" 2>&1) &
done
wait
