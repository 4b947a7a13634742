#!/bin/sh
# A stand-in for the opencode CLI (`opencode run --format json`) that misbehaves on request: the prompt's first word names the fault.
#   ok                      answer "ok" at once
#   crash CODE              print some text, a panic on stderr, exit CODE
#   signal SIG              print some text, then die by SIG (no core file)
#   hang SECONDS            print some text, then wait on a child `sleep SECONDS` (the marker)
#   stubborn S1 S2          ignore SIGTERM; a child shell ignoring it too runs `sleep S1`, a detached `sleep S2`
#   flood BYTES             print about BYTES of text events (1000-byte lines), then finish normally
#   fill BYTES FILE         write BYTES of random data to FILE; on failure die like opencode on ENOSPC
#   spill BYTES FILE        write BYTES of random data to FILE; on failure carry on (a tool failed), exit 0
# `after FIFO <fault …>` first prints "armed" and waits until the test writes a line to FIFO: the test
# then knows to the millisecond when the fault happened.
# `models` lists what OPENCODE_MODEL and request models are checked against.
if [ "$1" = "--version" ]; then echo "0.0.0-faults"; exit 0; fi
if [ "$1" = "models" ]; then printf 'fake/fake-model\nfake/other-model\nopencode/big-pickle\n'; exit 0; fi
prompt=$(cat)
set -f
# shellcheck disable=SC2086 # the prompt is split into words on purpose
set -- $prompt
verb=$1
[ $# -gt 0 ] && shift

text() { printf '{"type":"text","sessionID":"ses_faults","part":{"id":"%s","text":"%s"}}\n' "$1" "$2"; }
finish() { echo '{"type":"step_finish","sessionID":"ses_faults","part":{"tokens":{"input":1,"output":1,"reasoning":0,"cache":{"read":0,"write":0}},"cost":0}}'; }

echo '{"type":"step_start","sessionID":"ses_faults","part":{}}'
if [ "$verb" = after ]; then
  text armed armed
  read -r _ < "$1"
  shift
  verb=$1
  shift
fi
case "$verb" in
  ok) text final ok; finish ;;
  crash)
    text t1 "about to crash"
    echo "panic: simulated agent crash (runtime error: invalid memory address)" >&2
    exit "$1" ;;
  signal)
    text t1 "about to be killed"
    ulimit -c 0
    kill -s "$1" $$ ;;
  hang)
    text t1 "working"
    sleep "$1" &
    wait ;;
  stubborn)
    trap '' TERM
    text t1 "ignoring SIGTERM"
    # `; :` keeps the shell alive as the sleep's parent instead of exec-ing it.
    sh -c "trap '' TERM; sleep $1; :" &
    setsid nohup sleep "$2" >/dev/null 2>&1 &
    wait ;;
  flood)
    line='{"type":"text","sessionID":"ses_faults","part":{"text":"'$(printf '%0950d' 0)'"}}'
    yes "$line" | head -n $(( $1 / 1000 ))
    text final "flood done"
    finish ;;
  fill)
    text t1 "writing $1 bytes"
    if ! head -c "$1" /dev/urandom > "$2"; then
      # What opencode (Bun) prints when its own write fails, e.g. extracting a library into TMPDIR.
      echo "Error: ENOSPC: no space left on device, write" >&2
      exit 1
    fi
    text final "wrote it"; finish ;;
  spill)
    if head -c "$1" /dev/urandom > "$2"; then text final "wrote it"; else text final "the disk is full"; fi
    finish ;;
  *) text final "unknown fault: $verb"; finish ;;
esac
