#!/bin/sh
# A stand-in for `opencode run --format json`, for benchmarks: answers --version, reads the prompt from
# stdin, and acts on it — "sleep N" waits N seconds, "print N" writes about N bytes of text events —
# then prints a text part and a step-finish event, like opencode.
if [ "$1" = "--version" ]; then echo "0.0.0-fake"; exit 0; fi
prompt=$(cat)
case "$prompt" in
  sleep\ *) sleep "${prompt#sleep }" ;;
  print\ *)
    # 1000 bytes a line; ids omitted, so every line is a new text part.
    line='{"type":"text","sessionID":"ses_fake","part":{"text":"'$(printf '%0950d' 0)'"}}'
    yes "$line" | head -n $(( ${prompt#print } / 1000 )) ;;
esac
echo '{"type":"step_start","sessionID":"ses_fake","part":{}}'
echo '{"type":"text","sessionID":"ses_fake","part":{"id":"final","text":"ok"}}'
echo '{"type":"step_finish","sessionID":"ses_fake","part":{"tokens":{"input":1,"output":1,"reasoning":0,"cache":{"read":0,"write":0}},"cost":0}}'
