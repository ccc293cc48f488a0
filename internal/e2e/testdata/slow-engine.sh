#!/bin/sh
# Runs the real engine ($REAL_ENGINE), first sleeping $SLOW_<COMMAND>
# seconds (SLOW_PLAN, SLOW_APPLY) when set, and writing a marker file so a
# test knows the command is under way.
cmd="$1"
case "$cmd" in
plan) delay="$SLOW_PLAN" ;;
apply) delay="$SLOW_APPLY" ;;
*) delay="" ;;
esac
if [ -n "$delay" ]; then
	[ -n "$MARKER_DIR" ] && touch "$MARKER_DIR/$cmd.started"
	echo "slow-engine: $cmd waits ${delay}s"
	sleep "$delay"
fi
exec "$REAL_ENGINE" "$@"
