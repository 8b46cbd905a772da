"""Remedy's own scripts: the only programs Remedy ever hands to `sh -c` or `python -c`.

Each is fixed, reviewed text in this one file. Values (paths, keys, patterns, counts)
always arrive as positional parameters -- data, never pasted into the text -- so a
script does the same thing whatever an inventory or a host says. The SSH allowlist
(activities/ssh_policy.py) admits a script invocation only when its text is *byte for
byte* one registered here, run by its interpreter under its own `$0` name:

    ["sh", "-c", <text>, <name>, *args]        (interpreter "sh")
    [<python>, "-c", <text>, *args]            (interpreter "python": the service's
                                                 data_integrity.python)

A wrapper (`wraps`: the keyed runner, the test-suite runner) runs the argv that
follows its first `wraps` parameters; that inner argv must itself pass the allowlist.

Changing a script's text changes its sha256: tests/security/test_command_allowlist.py
pins every digest, so a change cannot slip in without a reviewed test change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# used by activities/service.py
KEYED_SCRIPT = r"""set -u
state=$1 keyhash=$2 key=$3 wait_s=$4 keep_days=$5 cwd=$6
shift 6
case $state in /*) ;; *) state=$HOME/$state ;; esac
dir=$state/$keyhash
mark() { printf '%s %s %s\n' 'remedy-idempotency:' "$1" "$keyhash" >&2; }
emit() {
  mark "$1"
  cat "$dir/stderr" >&2
  cat "$dir/stdout"
  exit "$(cat "$dir/rc")"
}
if ! err=$(mkdir -p "$state" 2>&1); then mark error; printf '%s\n' "$err" >&2; exit 125; fi
if mkdir "$dir" 2>/dev/null; then
  printf '%s\n' "$key" > "$dir/key"
  printf '%s\n' "$@" > "$dir/argv"
  date -u +%Y-%m-%dT%H:%M:%SZ > "$dir/started_at"
  cat > "$dir/stdin"
  (
    trap '' HUP
    { [ -z "$cwd" ] || cd "$cwd" && "$@"; } < "$dir/stdin" > "$dir/stdout" 2> "$dir/stderr"
    rc=$?
    date -u +%Y-%m-%dT%H:%M:%SZ > "$dir/finished_at"
    echo "$rc" > "$dir/rc.tmp" && mv "$dir/rc.tmp" "$dir/rc"
  ) < /dev/null > /dev/null 2>&1 &
  wait $!
  # Markers of runs finished more than keep_days ago can no longer be asked for again
  # (a retry comes within the incident's activity timeouts): prune them, so the state
  # dir does not grow forever. Best effort: a failed prune never fails the command.
  find "$state" -mindepth 2 -maxdepth 2 -name rc -mtime +"$keep_days" 2>/dev/null |
    while IFS= read -r old; do rm -rf -- "${old%/rc}"; done
  # Mitigation backups (activities/mitigation.py), one dir per incident run, go with
  # them: a dir is last changed by its run's first apply.
  find "$state/mitigations" -mindepth 1 -maxdepth 1 -type d -mtime +"$keep_days" \
    2>/dev/null | while IFS= read -r old; do rm -rf -- "$old"; done
  if [ -f "$dir/rc" ]; then emit ran; fi
  mark unknown; exit 125
fi
i=0
while [ ! -f "$dir/rc" ]; do
  if [ "$i" -ge "$wait_s" ]; then mark unknown; exit 125; fi
  sleep 1; i=$((i + 1))
done
emit replayed
"""

# used by activities/testsuite.py
# $1 grep pattern, $2 run log, $3 baseline log ("" = none), then the pytest argv.
# Positional parameters only: the script is fixed text, every value arrives as data.
RUN_SCRIPT = r"""KEEP=$1 log=$2 base=$3; shift 3
case $log in */*) mkdir -p "${log%/*}" ;; esac
"$@" > "$log" 2>&1
rc=$?
grep -E "$KEEP" "$log" | tail -n 5000
if [ -n "$base" ] && [ -f "$base" ]; then
  echo '@@remedy-baseline@@'
  grep -E "$KEEP" "$base" | tail -n 5000
fi
exit $rc
"""

# used by activities/inventory/services.py
RESTORE_CONFIG_SCRIPT = r"""set -eu
backup=$1 config=$2 glob=$3 n=0
for f in "$backup"/*; do
  case ${f##*/} in $glob) ;; *) continue ;; esac
  [ -f "$f" ] || continue
  cp -p -- "$f" "$config"/
  echo "restored ${f##*/}"
  n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
  echo "no files matching '$glob' in $backup: configuration not restored" >&2
  exit 1
fi
"""

# used by activities/diagnostics.py
# $1 pattern (extended regex, case-insensitive) $2 file $3 lines. Exit 0 with the last
# matches (none is fine), 2 when the file cannot be read -- grep's own "no match" (1)
# must not look like a failure, and a pipeline's status is tail's, hence the test first.
GREP_SCRIPT = r"""set -u
[ -r "$2" ] || { echo "cannot read $2" >&2; exit 2; }
grep -i -E -e "$1" -- "$2" | tail -n "$3"
"""

# used by activities/diagnostics.py
# $1 log file, $2 how many groups. Line 1: the number of ERROR or Exception lines (the
# runbook's `grep 'ERROR\|Exception'`: a traceback's last line names the exception
# without the word ERROR); then `uniq -c` lines, most frequent first. Exit 3: the log
# cannot be read (grep's own 2 would be indistinguishable from "no match" once piped).
ERROR_GROUPS_SCRIPT = r"""log=$1 top=$2
[ -r "$log" ] || { printf 'cannot read %s\n' "$log" >&2; exit 3; }
grep -c -E 'ERROR|Exception' "$log"
grep -E 'ERROR|Exception' "$log" | cut -d' ' -f4- | sort | uniq -c | sort -nr | head -n "$top"
exit 0
"""

# used by activities/datafiles.py
# The flag holds a marker naming the incident: "off" removes only a flag that is ours.
READ_ONLY_ON = r"""set -u
flag=$1 mark=$2
if [ -e "$flag" ]; then echo existed; exit 0; fi
mkdir -p "$(dirname "$flag")" || exit 2
if (set -C; printf '%s\n' "$mark" > "$flag") 2>/dev/null; then echo created; exit 0; fi
if [ -e "$flag" ]; then echo existed; else exit 3; fi
"""

# used by activities/datafiles.py
READ_ONLY_OFF = r"""set -u
flag=$1 mark=$2
if [ ! -e "$flag" ]; then echo absent; exit 0; fi
if [ "$(cat "$flag")" != "$mark" ]; then echo foreign; exit 0; fi
rm -f -- "$flag" && echo removed
"""

# used by activities/datafiles.py
# The runbook's `tar -czf evidence-$(date +%Y%m%d_%H%M%S).tar.gz data/`, into the
# evidence dir; never over an existing file. tar exits 1 when a file changed while read:
# still evidence. Prints: path size sha256 members.
EVIDENCE_TAR_SCRIPT = r"""set -u
evdir=$1 stamp=$2 data=$3
out=$evdir/evidence-$stamp.tar.gz
mkdir -p "$evdir" || exit 2
if [ -e "$out" ]; then echo "$out exists: not overwritten" >&2; exit 3; fi
tar -czf "$out" -C "$(dirname "$data")" -- "$(basename "$data")"; rc=$?
[ "$rc" -le 1 ] || exit "$rc"
printf '%s %s %s %s\n' "$out" "$(wc -c < "$out")" "$(sha256sum "$out" | cut -d' ' -f1)" \
  "$(tar -tzf "$out" | wc -l)"
"""

# used by activities/security.py
# Paths are argv words ($1 output, then the evidence paths); nothing is interpolated.
# tar exits 1 when a file changed while being read: the snapshot is still evidence.
SECURITY_SNAPSHOT_SCRIPT = r"""set -u
out=$1; shift
mkdir -p "$(dirname "$out")" || exit 2
tar -czf "$out" -- "$@"; rc=$?
[ "$rc" -le 1 ] || exit "$rc"
printf '%s %s\n' "$(wc -c < "$out")" "$(sha256sum "$out" | cut -d' ' -f1)"
"""

# used by activities/mitigation.py
# $1 mode (write|replace) $2 path $3 backup dir $4 old $5 new; content on stdin.
# First stdout word: `changed` | `unchanged`.
APPLY_SCRIPT = r"""set -u
mode=$1 path=$2 bak=$3 old=$4 new=$5
tmp=$path.remedy-tmp.$$
if [ "$mode" = replace ] && [ ! -f "$path" ]; then echo "missing: $path"; exit 2; fi
mkdir -p "$bak" || exit 1
if [ ! -e "$bak/original" ] && [ ! -e "$bak/absent" ]; then
  if [ -e "$path" ]; then cp -p "$path" "$bak/original" || exit 1; else : > "$bak/absent"; fi
fi
printf '%s\n' "$path" > "$bak/path"
if [ "$mode" = write ]; then
  mkdir -p "$(dirname "$path")" || exit 1
  cat > "$tmp" || exit 1
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"; echo "unchanged: $path already has this content"; exit 0
  fi
else
  OLD=$old NEW=$new awk '
    BEGIN { o = ENVIRON["OLD"]; n = ENVIRON["NEW"]; c = 0 }
    { s = $0; out = ""
      while ((i = index(s, o)) > 0) {
        out = out substr(s, 1, i - 1) n; s = substr(s, i + length(o)); c++
      }
      print out s }
    END { exit (c > 0 ? 0 : 3) }' "$path" > "$tmp"
  rc=$?
  if [ $rc -eq 3 ]; then rm -f "$tmp"; echo "unchanged: no '$old' in $path"; exit 0; fi
  if [ $rc -ne 0 ]; then rm -f "$tmp"; exit $rc; fi
fi
[ -e "$path" ] && chmod --reference="$path" "$tmp" 2>/dev/null
mv -f "$tmp" "$path" || exit 1
echo "changed: $path (backup in $bak)"
"""

# used by activities/mitigation.py
# $1 path $2 backup dir. First stdout word: `restored` | `removed` | `nothing`.
RESTORE_SCRIPT = r"""set -u
path=$1 bak=$2 tmp=$1.remedy-tmp.$$
if [ -e "$bak/original" ]; then
  cp -p "$bak/original" "$tmp" && mv -f "$tmp" "$path" || exit 1
  echo "restored: $path from $bak/original"
elif [ -e "$bak/absent" ]; then
  rm -f "$path" || exit 1
  echo "removed: $path (it did not exist before the mitigation)"
else
  echo "nothing: no backup for $path in $bak"
fi
"""

# used by activities/crash.py (GenesisServiceDown step 4, "Collect crash dump")
# $1 dump dir $2 file name in it $3 lines to print back, then the source argv: its
# output is kept in the file, and the file's last lines go to stdout for the
# classification. Rerun with the same dir (an activity retry), the file is rewritten.
CRASH_SAVE_SCRIPT = r"""set -u
dir=$1 name=$2 keep=$3; shift 3
mkdir -p "$dir" || exit 125
"$@" > "$dir/$name" 2>&1
rc=$?
tail -n "$keep" "$dir/$name"
exit "$rc"
"""

# The DataCorruption host program (activities/datafiles_host.py), run as python -c.
DATAFILES_HOST_SCRIPT = Path(__file__).with_name("datafiles_host.py").read_text()


@dataclass(frozen=True)
class Script:
    key: str  # registry key
    name: str  # $0 for sh scripts; a label for python ones
    text: str
    interpreter: Literal["sh", "python"] = "sh"
    # A wrapper: the argv after its first `wraps` parameters is a command it runs.
    wraps: int | None = None
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.text.encode()).hexdigest())


SCRIPTS: dict[str, Script] = {
    s.key: s
    for s in (
        # $1 state $2 keyhash $3 key $4 wait $5 retention $6 cwd, then the keyed argv.
        Script("keyed", "remedy-keyed", KEYED_SCRIPT, wraps=6),
        # $1 grep pattern $2 run log $3 baseline log, then the test-suite argv.
        Script("tests", "remedy-tests", RUN_SCRIPT, wraps=3),
        Script("restore-config", "remedy-restore-config", RESTORE_CONFIG_SCRIPT),
        Script("grep", "remedy-grep", GREP_SCRIPT),
        Script("error-groups", "remedy-error-groups", ERROR_GROUPS_SCRIPT),
        Script("read-only-on", "remedy-read-only", READ_ONLY_ON),
        Script("read-only-off", "remedy-read-only", READ_ONLY_OFF),
        Script("evidence-tar", "remedy-evidence", EVIDENCE_TAR_SCRIPT),
        Script("security-snapshot", "remedy-snapshot", SECURITY_SNAPSHOT_SCRIPT),
        Script("mitigate", "remedy-mitigate", APPLY_SCRIPT),
        Script("mitigation-restore", "remedy-restore", RESTORE_SCRIPT),
        Script("datafiles-host", "datafiles_host.py", DATAFILES_HOST_SCRIPT, "python"),
        # $1 dump dir $2 file name $3 lines back, then the crash-evidence source argv.
        Script("crash-save", "remedy-crash-save", CRASH_SAVE_SCRIPT, wraps=3),
    )
}

_BY_TEXT: dict[tuple[str, str], Script] = {(s.interpreter, s.text): s for s in SCRIPTS.values()}


def script_for(interpreter: Literal["sh", "python"], text: str) -> Script | None:
    """The registered script with exactly this text (byte for byte), or None."""
    return _BY_TEXT.get((interpreter, text))
