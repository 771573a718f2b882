# Sourced by the GPU experiment scripts (examples/gpu_*.sh): wait for their background runs with a deadline,
# snapshotting the results as they arrive. The script sets SNAP (a folder, or empty for no snapshots), DEADLINE
# (seconds, 0 for none), SNAPSHOT_PATHS (array), pids (array of the runs' process ids) and defines `progress`
# (prints how far the runs are) and, optionally, `stop_runs` (what else to stop at the deadline).

snapshot() {
  [ -n "$SNAP" ] || return 0
  tar -czf "$SNAP/results.tgz.tmp" "${SNAPSHOT_PATHS[@]}" 2>/dev/null
  mv "$SNAP/results.tgz.tmp" "$SNAP/results.tgz"
}

wait_for_runs() {
  local start=$SECONDS running p
  while true; do
    running=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
    [ $running -eq 0 ] && break
    if [ "$DEADLINE" -gt 0 ] && [ $((SECONDS - start)) -ge "$DEADLINE" ]; then
      echo "deadline: stopping $running process(es)"; kill "${pids[@]}" 2>/dev/null
      declare -F stop_runs >/dev/null && stop_runs
      break
    fi
    snapshot; sleep "${INTERVAL:-20}"
    echo "$((SECONDS - start)) s: $running running; $(progress)"
  done
  snapshot
  echo "done after $((SECONDS - start)) s"
}
