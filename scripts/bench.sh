#!/usr/bin/env bash
# Measures the gateway's hot paths against baselines on this machine and
# writes docs/PERFORMANCE.md. Run it from the repository root (make bench).
#
#   status poll     vs bin/benchtarget, a fasthttp handler returning a fixed
#                   55-byte body                          target >= 0.85x
#   admitted proxy  vs nginx proxy_pass to the same demo backend path
#                                                         target >= 1.00x
#   join            a plain figure
#   go test -bench of ./gateway/ and ./ticket/, with allocations
#
# Absolute req/s move from run to run; the ratios, measured alternately in
# one run with the same wrk settings, are what count. Servers are pinned to
# CPU 0 (Go servers with GOMAXPROCS=1, nginx with one worker) and wrk to
# CPU 1, so every server gets the same single core. The CPU time each server
# spends per request is reported too: unlike req/s it barely moves when
# other work on the machine takes CPU time away.
#
# Settings (environment): WRK_THREADS (1), WRK_CONNS (64), WRK_DURATION (10s),
# ROUNDS (3, odd), BENCH_PORT_BASE (18400; the script uses it and the 6 ports
# above it). Installs wrk and nginx with apt-get when they are missing and it
# runs as root. A run takes about three minutes; every process it starts is
# stopped on exit.
set -euo pipefail

WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PORT_BASE=${BENCH_PORT_BASE:-18400}
SERVER_CPU=0
LOAD_CPU=1
STATUS_TARGET=0.85
PROXY_TARGET=1.00

BACKEND=127.0.0.1:$PORT_BASE
BASELINE=127.0.0.1:$((PORT_BASE + 1))
GW_WAIT=127.0.0.1:$((PORT_BASE + 2))
GW_WAIT_ADMIN=127.0.0.1:$((PORT_BASE + 3))
GW_OPEN=127.0.0.1:$((PORT_BASE + 4))
GW_OPEN_ADMIN=127.0.0.1:$((PORT_BASE + 5))
NGINX=127.0.0.1:$((PORT_BASE + 6))

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ -f go.mod && -d gateway ]] || die "run me from the repository root"
[[ $((ROUNDS % 2)) == 1 ]] || die "ROUNDS must be odd, for a median"

need=()
for tool in wrk nginx taskset curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
	pkgs=("${need[@]/taskset/util-linux}")
	[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
		die "missing ${need[*]}: run 'sudo apt-get install ${pkgs[*]}' and retry"
	log "installing ${pkgs[*]}"
	# This script runs its own nginx; a system nginx that apt may start
	# listens on port 80 and stays idle.
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null) ||
		die "could not install ${pkgs[*]}"
fi
if (($(nproc) < 2)); then
	log "only one CPU: wrk and the servers share it"
	LOAD_CPU=0
fi

tmp=$(mktemp -d /tmp/waitroom-bench.XXXXXX)
pids=()
declare -A pid_of
cleanup() {
	local rc=$? pid name
	# A server that died on the way is why a run failed: show its log.
	for name in "${!pid_of[@]}"; do
		pid=${pid_of[$name]%% *}
		if ((rc)) && [[ -f $tmp/$name.log ]] && ! kill -0 "$pid" 2>/dev/null; then
			log "$name (pid $pid) exited; the end of its log:"
			tail -n 30 "$tmp/$name.log" >&2
		fi
	done
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for addr in "$BACKEND" "$BASELINE" "$GW_WAIT" "$GW_WAIT_ADMIN" "$GW_OPEN" "$GW_OPEN_ADMIN" "$NGINX"; do
	listening "$addr" && die "port ${addr#*:} is in use; set BENCH_PORT_BASE to the first of 7 free ports"
done

log "building"
go build -o bin/waitroom ./cmd/waitroom
go build -o bin/benchtarget ./cmd/benchtarget

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Microbenchmarks first, while none of our servers runs.
log "go test -bench ./gateway/ ./ticket/"
timeout 180 go test -run '^$' -bench . -benchmem ./gateway/ ./ticket/ >"$tmp/gobench.txt" ||
	{ cat "$tmp/gobench.txt" >&2; die "go test -bench failed"; }

# start NAME ADDR CMD...: runs CMD pinned to the server CPU, logging to tmp,
# and waits until ADDR accepts connections.
start() {
	local name=$1 addr=$2
	shift 2
	GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
	pid_of[$name]=$!
	for _ in $(seq 100); do
		listening "$addr" && return 0
		kill -0 "${pid_of[$name]}" 2>/dev/null || { cat "$tmp/$name.log" >&2; die "$name exited"; }
		sleep 0.1
	done
	die "$name is not listening on $addr"
}

# gateway NAME ADDR ADMIN RATE PAUSED: a gateway with the in-memory store in
# front of the demo backend.
gateway() {
	cat >"$tmp/$1.yaml" <<EOF
listen: $2
admin_listen: $3
backend: http://$BACKEND
room: bench
rate_per_hour: $4
paused: $5
session_duration: 30m
paths:
  protect: ["/"]
  bypass: ["/static/", "/favicon.ico"]
log:
  level: warn
  format: text
EOF
	WAITROOM_ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_') \
		start "$1" "$2" bin/waitroom serve --config "$tmp/$1.yaml"
}

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    # As many requests per connection as the gateway allows (no limit), so
    # neither side pays for reconnecting.
    keepalive_requests 1000000;
    upstream backend {
        server $BACKEND;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen $NGINX;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The forwarding headers the gateway sets too.
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
        }
    }
}
EOF

log "starting the demo backend, the baseline, two gateways and nginx on ports $PORT_BASE-$((PORT_BASE + 6))"
start backend "$BACKEND" bin/waitroom demo-backend --listen "$BACKEND"
start baseline "$BASELINE" bin/benchtarget --listen "$BASELINE"
gateway status "$GW_WAIT" "$GW_WAIT_ADMIN" 1 true
gateway proxy "$GW_OPEN" "$GW_OPEN_ADMIN" 100000000 false
start nginx "$NGINX" nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
# nginx serves from its worker, a child of the master started above.
for _ in $(seq 50); do
	worker=$(ps -o pid= --ppid "${pid_of[nginx]}" | tr -d ' \n' || true)
	[[ -n $worker ]] && break
	sleep 0.1
done
[[ -n $worker ]] || die "nginx started no worker"
pid_of[nginx]+=" $worker"
pid_of[join]=${pid_of[status]}

# cookie JAR NAME: the value of a cookie in a curl cookie jar.
cookie() { awk -v n="$2" '$6 == n { v = $7 } END { print v }' "$1"; }

# A waiting person on the paused gateway.
curl -sf -c "$tmp/wait.jar" -X POST "http://$GW_WAIT/waitroom/api/join" >/dev/null || die "join failed"
status_cookie="wr_ticket=$(cookie "$tmp/wait.jar" wr_ticket); wr_device=$(cookie "$tmp/wait.jar" wr_device)"
body=$(curl -sf -H "Cookie: $status_cookie" "http://$GW_WAIT/waitroom/api/status") || die "status poll failed"
[[ $body == *'"state":"waiting"'* ]] || die "status is not waiting: $body"

# An admitted person on the open gateway: join, then poll until admitted.
curl -sf -c "$tmp/open.jar" -b "$tmp/open.jar" -X POST "http://$GW_OPEN/waitroom/api/join" >/dev/null || die "join failed"
for _ in $(seq 50); do
	body=$(curl -sf -c "$tmp/open.jar" -b "$tmp/open.jar" "http://$GW_OPEN/waitroom/api/status") || die "status poll failed"
	[[ $body == *'"state":"admitted"'* ]] && break
	sleep 0.1
done
[[ $body == *'"state":"admitted"'* ]] || die "not admitted after 5 s: $body"
proxy_cookie="wr_admission=$(cookie "$tmp/open.jar" wr_admission); wr_device=$(cookie "$tmp/open.jar" wr_device)"
proxy_path=/api/slots
curl -sf -H "Cookie: $proxy_cookie" "http://$GW_OPEN$proxy_path" >/dev/null || die "admitted request refused"
curl -sf "http://$NGINX$proxy_path" >/dev/null || die "nginx does not proxy $proxy_path"

join_body='{"return":"/book"}'
cat >"$tmp/join.lua" <<EOF
-- A first visit: no cookies (wrk keeps none), the body the waiting page sends.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$join_body'
EOF

# Response body sizes, for the report.
declare -A bytes
size() { curl -sf "$@" | wc -c; }
bytes[baseline]=$(size "http://$BASELINE/")
bytes[status]=$(size -H "Cookie: $status_cookie" "http://$GW_WAIT/waitroom/api/status")
bytes[proxy]=$(size -H "Cookie: $proxy_cookie" "http://$GW_OPEN$proxy_path")
bytes[nginx]=$(size "http://$NGINX$proxy_path")
bytes[join]=$(size -X POST -H "Content-Type: application/json" -d "$join_body" "http://$GW_WAIT/waitroom/api/join")

clk_tck=$(getconf CLK_TCK)
# ticks PID...: user + system CPU time of the processes, in clock ticks.
ticks() {
	local p sum=0 t
	for p in "$@"; do
		# Fields 14 and 15 of stat; the name in parentheses may hold spaces.
		t=$(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')
		sum=$((sum + t))
	done
	echo "$sum"
}

wrk_args=(-t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION")
# measure NAME URL [wrk args...]: one wrk run against the server NAME;
# prints its req/s, the server's CPU microseconds per request and how busy
# the server was (% of one core). Any non-2xx answer or socket error stops
# the script.
measure() {
	local name=$1 url=$2 out t0 t1
	shift 2
	# shellcheck disable=SC2086 # pid_of holds a list of pids
	t0=$(ticks ${pid_of[$name]})
	out=$(timeout 60 taskset -c "$LOAD_CPU" wrk "${wrk_args[@]}" "$@" "$url") || die "wrk failed on $name"
	# shellcheck disable=SC2086
	t1=$(ticks ${pid_of[$name]})
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		echo "$out" >&2
		die "$name: errors during the run"
	fi
	awk -v cpu=$((t1 - t0)) -v hz="$clk_tck" '
		/ requests in / { n = $1; secs = $4 + 0 }
		/^Requests\/sec:/ { rps = $2 }
		END { printf "%s %.2f %.0f\n", rps, cpu / hz * 1e6 / n, cpu / hz / secs * 100 }' <<<"$out"
}

# median N...: the middle of an odd count of numbers.
median() { printf '%s\n' "$@" | sort -g | sed -n "$(($# / 2 + 1))p"; }

declare -A runs cpus busys
# record NAME URL [wrk args...]: measure and keep the figures.
record() {
	local r rps us busy
	r=$(measure "$@")
	read -r rps us busy <<<"$r"
	runs[$1]+=" $rps"
	cpus[$1]+=" $us"
	busys[$1]+=" $busy"
}

# pair A URL_A B URL_B [B's wrk args...]: warm both up for 2 s, then measure
# them alternately ROUNDS times. A is the baseline and needs no wrk args.
pair() {
	local a=$1 url_a=$2 b=$3 url_b=$4 i
	shift 4
	measure "$a" "$url_a" -d2s >/dev/null
	measure "$b" "$url_b" "$@" -d2s >/dev/null
	for i in $(seq "$ROUNDS"); do
		log "round $i/$ROUNDS: $a, $b"
		record "$a" "$url_a"
		record "$b" "$url_b" "$@"
	done
}
pair baseline "http://$BASELINE/" status "http://$GW_WAIT/waitroom/api/status" -H "Cookie: $status_cookie"
pair nginx "http://$NGINX$proxy_path" proxy "http://$GW_OPEN$proxy_path" -H "Cookie: $proxy_cookie"
log "join"
record join "http://$GW_WAIT/waitroom/api/join" -s "$tmp/join.lua"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A med cpu busy
for k in "${!runs[@]}"; do
	# shellcheck disable=SC2086 # the lists are split into numbers on purpose
	med[$k]=$(median ${runs[$k]})
	# shellcheck disable=SC2086
	cpu[$k]=$(median ${cpus[$k]})
	# shellcheck disable=SC2086
	busy[$k]=$(median ${busys[$k]})
done

# ratio A B: A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict RATIO TARGET: "met", or by how much of the target it fell short.
verdict() {
	awk -v r="$1" -v t="$2" 'BEGIN { if (r >= t) print "met"; else printf "missed by %.0f%%\n", (1 - r / t) * 100 }'
}
status_ratio=$(ratio "${med[status]}" "${med[baseline]}")
proxy_ratio=$(ratio "${med[proxy]}" "${med[nginx]}")
# The same ratios from CPU cost: how many requests one core serves.
status_cpu_ratio=$(ratio "${cpu[baseline]}" "${cpu[status]}")
proxy_cpu_ratio=$(ratio "${cpu[nginx]}" "${cpu[proxy]}")

# row KEY WHAT: a table row with every run and the medians.
row() {
	# shellcheck disable=SC2086 # as above
	printf '| %s | %s | %s | %.0f | %.1f | %s%% |\n' "$2" "${bytes[$1]}" \
		"$(printf '%.0f, ' ${runs[$1]} | sed 's/, $//')" "${med[$1]}" "${cpu[$1]}" "${busy[$1]}"
}
summary=$(
	echo "| what | body bytes | req/s per run | median req/s | server CPU us/req | server busy |"
	echo "|---|---|---|---|---|---|"
	row baseline "baseline: fasthttp handler, fixed body (bin/benchtarget)"
	row status "gateway status poll, waiting ticket"
	row nginx "nginx proxy_pass to the demo backend $proxy_path"
	row proxy "gateway proxy, admitted, to the demo backend $proxy_path"
	row join "gateway join, first visit (one run)"
)
ratios=$(
	echo "| ratio | req/s | target | result | from CPU us/req |"
	echo "|---|---|---|---|---|"
	echo "| status poll / baseline | ${status_ratio}x | >= ${STATUS_TARGET}x | $(verdict "$status_ratio" "$STATUS_TARGET") | ${status_cpu_ratio}x |"
	echo "| gateway proxy / nginx | ${proxy_ratio}x | >= ${PROXY_TARGET}x | $(verdict "$proxy_ratio" "$PROXY_TARGET") | ${proxy_cpu_ratio}x |"
)

model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1 || true)
wrk_version=$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }' || true)
nginx_version=$(nginx -v 2>&1 | sed 's/^nginx version: //')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" with uncommitted changes"

mkdir -p docs
cat >docs/PERFORMANCE.md <<EOF
# Performance

Generated by \`scripts/bench.sh\` (\`make bench\`): run it again rather than edit this file.
Absolute req/s depend on the machine and the moment; the ratios, measured in one run under the
same load, are what the targets are about.

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) CPUs, ${model:-unknown CPU}, Linux $(uname -r); load average $load_before
  before the run, $load_after after it (anything above 0 is other work competing for the CPUs)
- software: $(go version | awk '{ print $3 }'), $wrk_version, $nginx_version, commit $commit
- load: \`wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION\` over keep-alive connections, pinned to CPU $LOAD_CPU
- servers: pinned to CPU $SERVER_CPU, one core each: the Go servers with GOMAXPROCS=1, nginx with one
  worker. The demo backend shares CPU $SERVER_CPU with whichever proxy is in front of it.
- method: each pair is warmed up for 2 s, then measured alternately $ROUNDS times; medians count. A
  run with any non-2xx answer or socket error stops the script. "server CPU us/req" is the user +
  system CPU time of the server process (nginx: master and worker; proxies: without the backend)
  divided by the requests served (median of the runs): one core's capacity is 1e6 / that, and
  other work on the machine moves it much less than req/s. "server busy" is that CPU time as a
  share of one core (median). For the baseline and the gateway's own answers, well under 100%
  means the server was not the bottleneck (wrk, one thread, or other work was) and its req/s
  understate what it can serve; behind the proxies the demo backend takes the rest of the core.

## Throughput

$summary

$ratios

- The status poll is a waiting ticket (\`wr_ticket\` and \`wr_device\` cookies) answered from memory;
  the store is paused at 1 person per hour so the ticket stays waiting. Its body echoes the ticket.
- The admitted proxy sends \`Cookie: wr_admission=...; wr_device=...\`: an Ed25519 token checked
  through the verified-token cache, then a keep-alive round trip to the demo backend. nginx runs
  \`proxy_pass\` to the same backend over a keep-alive upstream (\`proxy_http_version 1.1\`, empty
  \`Connection\`, no request limit per connection) and sets the same X-Forwarded-For/-Proto/-Host.
- Every join is a first visit (wrk keeps no cookies): a new device id, a place from the in-memory
  store, an HS256 ticket and two cookies.

## Microbenchmarks

\`go test -run '^\$' -bench . -benchmem ./gateway/ ./ticket/\`, run before the servers start, with
GOMAXPROCS = all CPUs. The waiting status poll must stay at 0 allocs/op (\`TestStatusWaitingAllocs\`
in ./gateway/ fails otherwise).

\`\`\`
$(grep -E '^(goos|goarch|cpu|pkg|Benchmark)' "$tmp/gobench.txt")
\`\`\`
EOF

printf '\n%s\n\n%s\n\n' "$summary" "$ratios"
log "wrote docs/PERFORMANCE.md"
