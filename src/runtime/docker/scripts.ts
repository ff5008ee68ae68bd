/**
 * The shell scripts the docker runtime runs in a container, as strings. Shell builtins only,
 * apart from `sh` itself: an exec needs no fork beyond its own start.
 */

export const oomCounterFiles = [
  '/sys/fs/cgroup/memory.events',
  '/sys/fs/cgroup/memory/memory.oom_control',
] as const;

/**
 * The wrapper each exec runs under. runc makes every exec process a session and process-group
 * leader, so `$$` is the pgid to signal later (busybox `setsid` would fork here, because the
 * process already leads its group, and the exec would report the forking parent's exit code).
 * It also records the cgroup's `oom_kill` count (v2 `memory.events`, v1 `memory.oom_control`)
 * before the command starts, so `oomKilled()` can tell whether an OOM kill happened since.
 * Shell builtins only, apart from `sh` itself.
 */
export const wrapperScript = [
  't=$1; shift',
  'echo $$ > /tmp/.sy-$t.pgid',
  `for f in ${oomCounterFiles.join(' ')}; do`,
  '  if [ -r "$f" ]; then',
  '    while read -r k v; do if [ "$k" = oom_kill ]; then echo "$v" > /tmp/.sy-$t.oom; fi; done < "$f"',
  '    break',
  '  fi',
  'done',
  'exec "$@"',
].join('\n');

/**
 * Helper execs for process control when this host cannot see the engine's processes. Builtins
 * only (`read`, `kill`), so they need no fork besides their own start. Exit codes: 0 done (or
 * alive), 1 no such group, 3 no pgid recorded yet; anything else means the helper did not run.
 */
export const signalGroupScript =
  't=$1; read -r p < /tmp/.sy-$t.pgid 2>/dev/null || exit 3; kill -"$2" -"$p" 2>/dev/null || exit 1';
export const groupAliveScript =
  't=$1; read -r p < /tmp/.sy-$t.pgid 2>/dev/null || exit 3; kill -0 -"$p" 2>/dev/null || exit 1';

/**
 * The controller (controller.ts): reads `<n> <token> <signal>` lines and answers `<n> <code>`
 * with the codes above, signalling the group the wrapper recorded under the token (`0` checks
 * that it exists). Builtins only: once started it never needs another process.
 */
export const controllerScript = [
  'while read -r n t s; do',
  '  p=',
  '  read -r p 2>/dev/null < /tmp/.sy-$t.pgid',
  '  case $p in',
  '    ""|*[!0-9]*) echo "$n 3" ;;',
  '    *) if kill -"$s" -"$p" 2>/dev/null; then echo "$n 0"; else echo "$n 1"; fi ;;',
  '  esac',
  'done',
].join('\n');

/** Prints `<count before> <count now>` of the cgroup's oom_kill counter. */
export const oomScript = [
  't=$1; before=; now=',
  'read -r before < /tmp/.sy-$t.oom 2>/dev/null',
  `for f in ${oomCounterFiles.join(' ')}; do`,
  '  if [ -r "$f" ]; then',
  '    while read -r k v; do if [ "$k" = oom_kill ]; then now=$v; fi; done < "$f"',
  '    break',
  '  fi',
  'done',
  'echo "$before $now"',
].join('\n');
