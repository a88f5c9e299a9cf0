#!/bin/bash
# Soak (issue 9): SOAK_DEPLOYS (default 20) consecutive deploys of one
# greeter service, 2 replicas, versions alternating 1.0.i / 2.0.i (each a
# new release), under load for the whole run from hammer: 8 clients that
# loop new-connection requests and 8 that loop requests on keep-alive
# connections. Every 10th green never gets healthy (exit 1, blue still
# serves), every 15th other one passes its health gate and fails during
# its bake (exit 1, traffic switched back), every other deploy exits 0 and
# its version then answers. No request may fail, the router's memory and
# open files must stay bounded and it must never restart, and nothing may
# be left running.
#
# Timings, scaled down from production (drain 30 s, keep_previous 10 m)
# so that 20 deploys take about a minute: a 1 s bake, drain 1 s, the
# previous release kept warm 5 s. keep_previous stays longer than the
# drain and deploys are further apart than the drain (start, health gate,
# bake), so no release is stopped while the router still drains
# connections to it, as in production.
#
# The new-connection clients wait SOAK_NEW_PAUSE_MS (20) between requests,
# some 400 requests a second in all. Unpaced they make 2,000-4,500 a
# second, two TCP connections each (client-router, router-greeter), and
# where netfilter tracks connections (nf_conntrack, loaded with Docker's
# iptables rules, as on CI's machine) that overflows its table (262,144
# entries, each kept 120 s after the close): the kernel drops SYNs ("table
# full, dropping packet"), the router's connects to both backends time
# out and it resets the client, in this test and in every test beside it.
# Found by this soak under ASan; SOAK_NEW_PAUSE_MS=0 runs unpaced.
#
# SOAK_LOG_DIR, when set, receives the logs (each deploy's output, its
# times, hammer's output and errors, the router's log) for bench/soak.sh
# and for diagnosis; they are in the TAP diagnostics when a check fails.
. "$(dirname "$0")/lib.sh"

N=${SOAK_DEPLOYS:-20}
PAUSE=${SOAK_NEW_PAUSE_MS:-20}
ADDR=127.0.0.1:$(pick_port)
export REPLICAS=2 BAKE=1s DRAIN=1s KEEP=5s START_TIMEOUT=15s
LOG=$WORK/logs
mkdir -p "$LOG"

now() { date +%s.%N | cut -c1-14; }
# conntrack_drops: packets netfilter dropped for want of a conntrack entry
# (the "drop" column, summed over CPUs), or "-" where it tracks nothing
conntrack_drops() {
	local f=/proc/net/stat/nf_conntrack c n=0 v
	[ -r "$f" ] || { echo -; return; }
	c=$(head -n 1 "$f" | tr -s ' ' '\n' | grep -nx drop | cut -d: -f1)
	[ -n "$c" ] || { echo -; return; }
	for v in $(tail -n +2 "$f" | awk -v c="$c" '{ print $c }'); do
		n=$((n + 16#$v))
	done
	echo "$n"
}
# router_connections: live connections the router reports
router_connections() {
	svcctl --json router status 2>/dev/null | tail -n 1 |
		grep -o '"connections": *[0-9]*' | head -n 1 | grep -o '[0-9]*$'
}
no_router_connections() { [ "$(router_connections)" = 0 ]; }
# router_usage: "RSS_KIB FDS" of the router now
router_usage() { echo "$(proc_rss_kib "$RPID") $(proc_fds "$RPID")"; }
keep_logs() {
	cp "$SVCCTL_STATE_DIR/router/router.log" "$LOG/router.log" 2>/dev/null
	if [ -n "${SOAK_LOG_DIR:-}" ]; then
		mkdir -p "$SOAK_LOG_DIR" && cp -r "$LOG/." "$SOAK_LOG_DIR/"
	fi
}

# ---- the first release, then the load ----
write_manifest greeter 1.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "first deploy (1.0.0) exits 0" 0 "$rc"
if [ "$rc" != 0 ]; then
	diag "$OUT"
	finish   # nothing to soak
fi
good=1.0.0
RPID=$(router_pid)
check "the router runs" test -n "$RPID" -a -d "/proc/$RPID"
read -r rss_idle0 fds_idle0 <<<"$(router_usage)"
ct0=$(conntrack_drops)

t_start=$(date +%s)
"$HAMMER" --addr "$ADDR" --clients 8 --keepalive-clients 8 --duration-ms 600000 \
	--new-conn-pause-ms "$PAUSE" --stop-file "$WORK/stop" >"$LOG/hammer.out" 2>"$LOG/hammer.err" &
HPID=$!
BG_PIDS+=("$HPID")
# the allocator's working set under this load is reached within a second
sleep 2
read -r rss_load0 fds_load0 <<<"$(router_usage)"
diag "router at the start: idle RSS ${rss_idle0} KiB, ${fds_idle0} open files;" \
	"under load RSS ${rss_load0} KiB, ${fds_load0} open files"

# ---- N deploys ----
bad_rc=0 bad_answer=0 bad_text=0 bad_running=0 n_ok=0 n_unhealthy=0 n_bake=0
for i in $(seq 1 "$N"); do
	if [ $((i % 2)) = 1 ]; then v=1.0.$i; else v=2.0.$i; fi
	if [ $((i % 10)) = 0 ]; then
		kind=unhealthy
		START_TIMEOUT=3s write_manifest greeter "$v" "$ADDR" UNHEALTHY_AFTER_MS=0
	elif [ $((i % 15)) = 0 ]; then
		# healthy for 2 s (its gate takes ~0.3 s), failing inside a 4 s bake
		kind=bake-fails
		BAKE=4s write_manifest greeter "$v" "$ADDR" UNHEALTHY_AFTER_MS=2000
	else
		kind=ok
		write_manifest greeter "$v" "$ADDR"
	fi
	t0=$(now)
	run_rc rc svcctl deploy greeter
	t1=$(now)
	printf '%s\n' "$OUT" >"$LOG/deploy.$i.out"
	answer=$(version_at "$ADDR")
	echo "deploy $i $v $kind start $t0 end $t1 rc $rc answers $answer" >>"$LOG/deploys"
	case $kind in
	ok)
		n_ok=$((n_ok + 1)) want_rc=0 good=$v ;;
	unhealthy)
		n_unhealthy=$((n_unhealthy + 1)) want_rc=1
		# (the error names the roles, blue and green, not the colors)
		grep -q "health check failed.*HTTP 503" <<<"$OUT" &&
			grep -q "blue still serves" <<<"$OUT" || { bad_text=$((bad_text + 1)); diag "$OUT"; } ;;
	bake-fails)
		n_bake=$((n_bake + 1)) want_rc=1
		grep -q "switched to \(green\|blue\)" <<<"$OUT" &&
			grep -q "bake failed" <<<"$OUT" &&
			grep -q "traffic switched back to \(green\|blue\)" <<<"$OUT" ||
			{ bad_text=$((bad_text + 1)); diag "$OUT"; } ;;
	esac
	if [ "$rc" != "$want_rc" ]; then
		bad_rc=$((bad_rc + 1))
		diag "deploy $i ($v, $kind) exited $rc, not $want_rc:"
		diag "$OUT"
	fi
	# the active release and the warm previous one, 2 instances each
	running=$(svcctl status greeter | grep -c ' running ')
	if [ "$running" -gt 4 ]; then
		bad_running=$((bad_running + 1))
		diag "after deploy $i ($v, $kind) $running instances run:"
		diag "$(svcctl status greeter)"
	fi
	if [ "$answer" != "$good" ]; then
		bad_answer=$((bad_answer + 1))
		diag "after deploy $i ($v, $kind) $answer answers, not $good"
	fi
done
check_eq "$N deploys exit as expected ($n_ok with 0, $n_unhealthy never healthy and $n_bake failing their bake with 1)" 0 "$bad_rc"
check_eq "after each deploy the version it leaves active answers" 0 "$bad_answer"
check_eq "each failed deploy says why and what still serves" 0 "$bad_text"
check_eq "after each deploy at most 4 instances run (active and warm)" 0 "$bad_running"

# ---- the end: the load stops ----
# the router and its supervisor, and a supervisor and its greeter per
# running instance
procs=$(leftover_pids | wc -l)
diag "processes under the state dir: $procs"
check "at most 10 processes run (the router, 4 instances and their supervisors)" \
	test "$procs" -le 10
read -r rss_load1 fds_load1 <<<"$(router_usage)"
# (hammer stops by itself after 10 minutes, its limit)
check "the load lasted the whole run" kill -0 "$HPID"
touch "$WORK/stop"
wait "$HPID"
hrc=$?
t_end=$(date +%s)
ct1=$(conntrack_drops)
# clients gone, the router closes both halves at once
wait_until 10 no_router_connections
read -r rss_idle1 fds_idle1 <<<"$(router_usage)"
diag "router at the end:   idle RSS ${rss_idle1} KiB, ${fds_idle1} open files;" \
	"under load RSS ${rss_load1} KiB, ${fds_load1} open files"
diag "$N deploys under load took $((t_end - t_start)) s"
hout=$(head -n 1 "$LOG/hammer.out")
if [ "$ct0" != - ] && [ "$ct1" -gt "$ct0" ]; then
	diag "the host's conntrack table overflowed meanwhile: netfilter dropped $((ct1 - ct0))" \
		"packets (nf_conntrack_max $(cat /proc/sys/net/netfilter/nf_conntrack_max" \
		"2>/dev/null)): connects that time out then are the host's, not the router's"
fi
diag "hammer: $(cat "$LOG/hammer.out")"
field() { sed -n "s/.* $1 \([0-9]*\).*/\1/p" <<<" $hout"; }

check_eq "hammer exits 0" 0 "$hrc"
check_eq "no new-connection request failed" 0 "$(field new_failed)"
check_eq "no keep-alive request failed" 0 "$(field keepalive_failed)"
check "both kinds made requests (more than 1000 each)" \
	test "$(field new_requests)" -gt 1000 -a "$(field keepalive_requests)" -gt 1000
if [ -s "$LOG/hammer.err" ]; then
	diag "failed requests (hammer's stderr, first 40):"
	diag "$(head -n 40 "$LOG/hammer.err")"
	diag "deploys:"
	diag "$(cat "$LOG/deploys")"
	diag "router log (last 40 lines):"
	diag "$(tail -n 40 "$SVCCTL_STATE_DIR/router/router.log" 2>/dev/null)"
fi

check_eq "the router never restarted" "$RPID" "$(router_pid)"
# Bounds. Idle, the router's descriptors are its listener, control socket,
# epoll set, lock, log and the like: the same number at both ends unless
# something leaks (a leak per deploy shows as +N), so only a control
# connection of a svcctl still closing is allowed for. Under load the 8
# keep-alive connections and up to 8 new-connection ones in flight take 2
# descriptors each, so a sample varies by up to 32.
check "idle open files at the end ($fds_idle1) <= start ($fds_idle0) + 2" \
	test "$fds_idle1" -le $((fds_idle0 + 2))
check "open files under load at the end ($fds_load1) <= start ($fds_load0) + 32" \
	test "$fds_load1" -le $((fds_load0 + 32))
# RSS: malloc keeps its high-water mark, reached in the first seconds of
# load (at most 64 pooled 16 KiB buffers, ~32 connections): later growth
# is a leak. Some 15,000 connections pass through in 20 deploys (75,000 in
# 100): losing each one's struct conn (~160 bytes) would cost more than
# 2 MiB, which is yet far above the noise (runs grew by 8-12 KiB; the
# buffer pool holds at most 1 MiB). Under ASan RSS
# says nothing: its quarantine holds freed memory (256 MiB by default; a
# 20-deploy run grew 25 -> 76 MiB, and stayed at 25 MiB with
# quarantine_size_mb=1), and LeakSanitizer checks the router at its exit.
check_rss() {
	if grep -q libasan "/proc/$RPID/maps" 2>/dev/null; then
		ok "$1 # SKIP the router runs under ASan"
	else
		check "$@"
	fi
}
check_rss "RSS under load at the end (${rss_load1} KiB) <= start (${rss_load0} KiB) + 2 MiB" \
	test "$rss_load1" -le $((rss_load0 + 2048))
check_rss "idle RSS at the end (${rss_idle1} KiB) <= start under load (${rss_load0} KiB) + 2 MiB" \
	test "$rss_idle1" -le $((rss_load0 + 2048))
{
	echo "deploys $N ok $n_ok unhealthy $n_unhealthy bake_fails $n_bake seconds $((t_end - t_start))" \
		"new_conn_pause_ms $PAUSE conntrack_drops $([ "$ct0" = - ] && echo - || echo $((ct1 - ct0)))"
	echo "router_idle_start rss_kib $rss_idle0 fds $fds_idle0"
	echo "router_load_start rss_kib $rss_load0 fds $fds_load0"
	echo "router_load_end rss_kib $rss_load1 fds $fds_load1"
	echo "router_idle_end rss_kib $rss_idle1 fds $fds_idle1"
	echo "hammer $hout"
} >"$LOG/summary"
keep_logs

finish
