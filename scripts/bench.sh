#!/usr/bin/env bash
# Measures the gateway's hot paths against baselines on this machine and
# writes docs/PERFORMANCE.md. Run it from the repository root (make bench).
#
#   status poll     vs bin/benchtarget, a fasthttp handler returning a fixed
#                   55-byte body                          target >= 0.85x
#                   (and benchtarget with a default gateway's timeouts, to
#                   show what the per-request deadlines cost)
#   admitted proxy  vs nginx proxy_pass to the same demo backend path
#                                                         target >= 1.00x
#   join            a plain figure
#   go test -bench of ./gateway/ and ./ticket/, with allocations
#   with Redis      joins/s, polls/s and their CPU and Redis cost, the
#                   gateway's memory with a million people waiting and Redis
#                   memory per waiting person (TestMeasure_Fleet in
#                   ./integration/, a few minutes; MEASURE=0 skips it)
#   where the CPU goes, per component, from perf when it is installed
#
# Absolute req/s move from run to run; the ratios, measured alternately in
# one run with the same wrk settings, are what count. Servers are pinned to
# CPU 0 (Go servers with GOMAXPROCS=1, nginx with one worker) and wrk to
# CPU 1, so every server gets the same single core. The CPU time each server
# spends per request is reported too: unlike req/s it barely moves when
# other work on the machine takes CPU time away.
#
# Settings (environment): WRK_THREADS (1), WRK_CONNS (64), WRK_DURATION (10s),
# ROUNDS (3, odd), BENCH_PORT_BASE (18400; the script uses it and the 7 ports
# above it), MEASURE (1), PROFILE (1: use perf when installed). Installs wrk,
# nginx and (for MEASURE) redis-server with apt-get when they are missing and
# it runs as root. A run takes about eight minutes; every process it starts
# is stopped on exit.
set -euo pipefail

WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PORT_BASE=${BENCH_PORT_BASE:-18400}
MEASURE=${MEASURE:-1}
PROFILE=${PROFILE:-1}
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
BASELINE_TO=127.0.0.1:$((PORT_BASE + 7))

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ -f go.mod && -d gateway ]] || die "run me from the repository root"
[[ $((ROUNDS % 2)) == 1 ]] || die "ROUNDS must be odd, for a median"

need=()
tools=(wrk nginx taskset curl)
((MEASURE)) && tools+=(redis-server)
for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || need+=("$tool"); done
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
for addr in "$BACKEND" "$BASELINE" "$GW_WAIT" "$GW_WAIT_ADMIN" "$GW_OPEN" "$GW_OPEN_ADMIN" "$NGINX" "$BASELINE_TO"; do
	listening "$addr" && die "port ${addr#*:} is in use; set BENCH_PORT_BASE to the first of 8 free ports"
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
environment: development # throwaway ticket keys
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

log "starting the demo backend, two baselines, two gateways and nginx on ports $PORT_BASE-$((PORT_BASE + 7))"
start backend "$BACKEND" bin/waitroom demo-backend --listen "$BACKEND"
start baseline "$BASELINE" bin/benchtarget --listen "$BASELINE"
start baseline_to "$BASELINE_TO" bin/benchtarget --listen "$BASELINE_TO" --gateway-timeouts
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

# What wrk sends to each server: its URL and a Lua script (headers, method,
# body) when it needs one. A script without a request() function makes wrk
# build the request once, as -H does.
declare -A url script
url[baseline]="http://$BASELINE/"
url[baseline_to]="http://$BASELINE_TO/"
url[status]="http://$GW_WAIT/waitroom/api/status"
url[nginx]="http://$NGINX$proxy_path"
url[proxy]="http://$GW_OPEN$proxy_path"
url[join]="http://$GW_WAIT/waitroom/api/join"
join_body='{"return":"/book"}'
cat >"$tmp/join.lua" <<EOF
-- A first visit: no cookies (wrk keeps none), the body the waiting page sends.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$join_body'
EOF
script[join]=$tmp/join.lua
echo "wrk.headers[\"Cookie\"] = \"$status_cookie\"" >"$tmp/status.lua"
script[status]=$tmp/status.lua
echo "wrk.headers[\"Cookie\"] = \"$proxy_cookie\"" >"$tmp/proxy.lua"
script[proxy]=$tmp/proxy.lua

# Response body sizes, for the report.
declare -A bytes
size() { curl -sf "$@" | wc -c; }
bytes[baseline]=$(size "${url[baseline]}")
bytes[baseline_to]=$(size "${url[baseline_to]}")
bytes[status]=$(size -H "Cookie: $status_cookie" "${url[status]}")
bytes[proxy]=$(size -H "Cookie: $proxy_cookie" "${url[proxy]}")
bytes[nginx]=$(size "${url[nginx]}")
bytes[join]=$(size -X POST -H "Content-Type: application/json" -d "$join_body" "${url[join]}")

clk_tck=$(getconf CLK_TCK)
# ticks PID...: user and system CPU time of the processes, in clock ticks.
ticks() {
	local p user=0 sys=0 u s
	for p in "$@"; do
		# Fields 14 and 15 of stat; the name in parentheses may hold spaces.
		read -r u s < <(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12, $13 }')
		user=$((user + u)) sys=$((sys + s))
	done
	echo "$user $sys"
}

wrk_args=(-t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION")
# measure NAME [wrk args...]: one wrk run against the server NAME; prints
# its req/s, the server's CPU microseconds per request (user + system, user,
# system) and how busy the server was (% of one core). Any non-2xx answer or
# socket error stops the script.
measure() {
	local name=$1 out t0 t1 s=()
	shift
	[[ -n ${script[$name]:-} ]] && s=(-s "${script[$name]}")
	# shellcheck disable=SC2086 # pid_of holds a list of pids
	t0=$(ticks ${pid_of[$name]})
	out=$(timeout 60 taskset -c "$LOAD_CPU" wrk "${wrk_args[@]}" "${s[@]}" "$@" "${url[$name]}") || die "wrk failed on $name"
	# shellcheck disable=SC2086
	t1=$(ticks ${pid_of[$name]})
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		echo "$out" >&2
		die "$name: errors during the run"
	fi
	awk -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" '
		/ requests in / { n = $1; secs = $4 + 0 }
		/^Requests\/sec:/ { rps = $2 }
		END {
			split(t0, a, " "); split(t1, b, " ")
			u = (b[1] - a[1]) / hz * 1e6 / n; s = (b[2] - a[2]) / hz * 1e6 / n
			printf "%s %.2f %.0f %.2f %.2f\n", rps, u + s, (u + s) * n / 1e6 / secs * 100, u, s
		}' <<<"$out"
}

# median N...: the middle of an odd count of numbers.
median() { printf '%s\n' "$@" | sort -g | sed -n "$(($# / 2 + 1))p"; }

declare -A runs cpus busys users syss
# record NAME: measure and keep the figures.
record() {
	local r rps us busy user sys
	r=$(measure "$1")
	read -r rps us busy user sys <<<"$r"
	runs[$1]+=" $rps"
	cpus[$1]+=" $us"
	busys[$1]+=" $busy"
	users[$1]+=" $user"
	syss[$1]+=" $sys"
}

# rotate NAME...: warm each server up for 2 s, then measure them in turn,
# ROUNDS times, so that every one sees the same mix of conditions.
rotate() {
	local name i
	for name in "$@"; do measure "$name" -d2s >/dev/null; done
	for i in $(seq "$ROUNDS"); do
		log "round $i/$ROUNDS: $*"
		for name in "$@"; do record "$name"; done
	done
}
rotate baseline baseline_to status
rotate nginx proxy
log "join"
record join
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A med cpu busy user sys
for k in "${!runs[@]}"; do
	# shellcheck disable=SC2086 # the lists are split into numbers on purpose
	med[$k]=$(median ${runs[$k]})
	# shellcheck disable=SC2086
	cpu[$k]=$(median ${cpus[$k]})
	# shellcheck disable=SC2086
	busy[$k]=$(median ${busys[$k]})
	# shellcheck disable=SC2086
	user[$k]=$(median ${users[$k]})
	# shellcheck disable=SC2086
	sys[$k]=$(median ${syss[$k]})
done

# serving NAME: the processes of the server NAME that serve requests (nginx:
# its worker, not the master), comma-separated for perf and strace.
serving() {
	local p=${pid_of[$1]}
	[[ $1 == nginx ]] && p=${p#* }
	echo "${p// /,}"
}

# Where the CPU goes: a perf profile of each server under the same wrk load,
# its samples sorted into components, each component's share of samples
# times the server's median CPU per request above. Only with perf installed
# (this script does not install it: its package must match the kernel).
declare -A part
parts=()
profiled=()
if ((PROFILE)) && command -v perf >/dev/null && perf record -o "$tmp/probe.data" -- true >/dev/null 2>&1; then
	log "perf profiles"
	for name in baseline status nginx proxy; do
		s=()
		[[ -n ${script[$name]:-} ]] && s=(-s "${script[$name]}")
		taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d7s "${s[@]}" "${url[$name]}" >/dev/null &
		wrk_pid=$!
		sleep 1
		perf record -F 999 -p "$(serving "$name")" -o "$tmp/$name.perf" -- sleep 5 >/dev/null 2>&1 || die "perf record failed on $name"
		wait "$wrk_pid" || die "wrk failed while profiling $name"
		while read -r component share; do
			part[$name,$component]=$(awk -v s="$share" -v c="${cpu[$name]}" 'BEGIN { printf "%.2f", s * c }')
			[[ " ${parts[*]} " == *" $component "* ]] || parts+=("$component")
		done < <(perf report -i "$tmp/$name.perf" --no-children --sort dso,sym --stdio -F sample,dso,sym 2>/dev/null |
			awk -v server="$name" '
				/^ *[0-9]/ {
					n = $1; dso = $2; sym = $4
					if (dso ~ /kernel/) c = "kernel (system calls, TCP)"
					else if (server == "nginx") c = "nginx"
					else if (dso ~ /vdso/) c = "clock reads (vDSO)"
					else if (sym ~ /^(runtime\.|internal\/runtime|gcWriteBarrier|memeqbody|indexbytebody|cmpbody|aeshash)/) c = "Go runtime (scheduler, netpoller, timers, GC, copies)"
					else if (sym ~ /^(internal\/poll|syscall\.|net\.|bufio\.|os\.)/) c = "Go net, bufio, syscall wrappers"
					else if (sym ~ /valyala\/fasthttp/) c = "fasthttp (parse, write)"
					else if (sym ~ /^(crypto\/|encoding\/base64|hash\/)/) c = "crypto, base64 (ticket, token)"
					else if (sym ~ /waitroom\/waitroom/) c = "waitroom code (gateway, ticket)"
					else c = "other (stdlib, unresolved)"
					by[c] += n; total += n
				}
				# One line per component: its name with _ for spaces, its share.
				END { for (c in by) { k = c; gsub(/ /, "_", k); printf "%s %.4f\n", k, by[c] / total } }')
		profiled+=("$name")
	done
else
	log "no perf: no CPU breakdown"
fi

# System calls per request, counted by strace (when installed) over a 3 s
# wrk run: strace slows the server, but not what it asks of the kernel.
declare -A calls wasted
if command -v strace >/dev/null; then
	log "strace counts"
	for name in baseline status nginx proxy; do
		strace -c -f -p "$(serving "$name")" -o "$tmp/$name.strace" >/dev/null 2>&1 &
		strace_pid=$!
		sleep 0.5
		s=()
		[[ -n ${script[$name]:-} ]] && s=(-s "${script[$name]}")
		n=$(taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d3s "${s[@]}" "${url[$name]}" | awk '/ requests in / { print $1 }')
		kill -INT "$strace_pid"
		wait "$strace_pid" || true
		# strace -c: % time, seconds, usecs/call, calls, errors (may be
		# blank), syscall; the total line is left out.
		read -r calls[$name] wasted[$name] < <(awk -v n="$n" '
			$NF != "total" && $1 ~ /^[0-9.]+$/ { c += $4; if (NF == 6 && $NF ~ /read/) e += $5 }
			END { printf "%.2f %.2f\n", c / n, e / n }' "$tmp/$name.strace")
	done
fi

# The Redis measurement: its own gateway and Redis, driven by Go clients.
measure_md=""
if ((MEASURE)); then
	log "TestMeasure_Fleet: a million people through a gateway on Redis (a few minutes)"
	measure_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	WAITROOM_MEASURE=1 WAITROOM_MEASURE_OUT="$tmp/measure.md" timeout 1200 \
		go test -count=1 -run '^TestMeasure_Fleet$' -timeout 20m -v ./integration/ >"$tmp/measure.log" 2>&1 ||
		{ tail -n 40 "$tmp/measure.log" >&2; die "TestMeasure_Fleet failed"; }
	measure_load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	measure_md=$(cat "$tmp/measure.md")
fi

# ratio A B: A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# delta A B: A-B to two decimals, signed.
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", a - b }'; }
# verdict RATIO TARGET: "met", or by how much of the target it fell short.
verdict() {
	awk -v r="$1" -v t="$2" 'BEGIN { if (r >= t) print "met"; else printf "missed by %.0f%%\n", (1 - r / t) * 100 }'
}
status_ratio=$(ratio "${med[status]}" "${med[baseline]}")
proxy_ratio=$(ratio "${med[proxy]}" "${med[nginx]}")
# The same ratios from CPU cost: how many requests one core serves.
status_cpu_ratio=$(ratio "${cpu[baseline]}" "${cpu[status]}")
proxy_cpu_ratio=$(ratio "${cpu[nginx]}" "${cpu[proxy]}")
timeouts_cpu_ratio=$(ratio "${cpu[baseline]}" "${cpu[baseline_to]}")

# row KEY WHAT: a table row with every run and the medians.
row() {
	# shellcheck disable=SC2086 # as above
	printf '| %s | %s | %s | %.0f | %.1f (%.1f + %.1f) | %s%% |\n' "$2" "${bytes[$1]}" \
		"$(printf '%.0f, ' ${runs[$1]} | sed 's/, $//')" "${med[$1]}" "${cpu[$1]}" "${user[$1]}" "${sys[$1]}" "${busy[$1]}"
}
summary=$(
	echo "| what | body bytes | req/s per run | median req/s | server CPU us/req (user + system) | server busy |"
	echo "|---|---|---|---|---|---|"
	row baseline "baseline: fasthttp handler, fixed body (bin/benchtarget)"
	row baseline_to "the same with a default gateway's read, write and idle timeouts"
	row status "gateway status poll, waiting ticket"
	row nginx "nginx proxy_pass to the demo backend $proxy_path"
	row proxy "gateway proxy, admitted, to the demo backend $proxy_path"
	row join "gateway join, first visit (one run)"
)
ratios=$(
	echo "| ratio | target | by req/s | result | by capacity (1e6 / CPU us per request) | result |"
	echo "|---|---|---|---|---|---|"
	echo "| status poll / baseline | >= ${STATUS_TARGET}x | ${status_ratio}x | $(verdict "$status_ratio" "$STATUS_TARGET") | ${status_cpu_ratio}x | $(verdict "$status_cpu_ratio" "$STATUS_TARGET") |"
	echo "| gateway proxy / nginx | >= ${PROXY_TARGET}x | ${proxy_ratio}x | $(verdict "$proxy_ratio" "$PROXY_TARGET") | ${proxy_cpu_ratio}x | $(verdict "$proxy_cpu_ratio" "$PROXY_TARGET") |"
)
# saturated NAME: whether the server NAME was the bottleneck of its runs
# (busy 90% of a core or more), so that its req/s measure the server.
saturated() { ((${busy[$1]} >= 90)); }
ratio_note="- Req/s measure the servers only when they are the bottleneck. In this run the baseline was busy ${busy[baseline]}% of its core, the status poll ${busy[status]}%, nginx ${busy[nginx]}% and the gateway proxy ${busy[proxy]}% (without the backend, which shares the core)"
if saturated baseline && saturated status; then
	ratio_note+=": the status poll ratio by req/s stands."
else
	ratio_note+=": below 90% the load generator or other work on the machine set the pace, not the server, and the ratio by capacity is the one that compares the servers."
fi

# The CPU breakdown table, when there are profiles.
breakdown=""
if ((${#profiled[@]})); then
	breakdown=$(
		printf '| component, us/req |'
		for name in "${profiled[@]}"; do printf ' %s |' "$name"; done
		printf '\n|---|'
		for _ in "${profiled[@]}"; do printf -- '---|'; done
		printf '\n'
		for component in "${parts[@]}"; do
			printf '| %s |' "${component//_/ }"
			for name in "${profiled[@]}"; do printf ' %s |' "${part[$name,$component]:--}"; done
			printf '\n'
		done
	)
fi

# gobench NAME FIELD: a field (ns/op, allocs/op, ...) of a Go benchmark.
gobench() { awk -v b="Benchmark$1-" -v f="$2" 'index($1, b) == 1 { for (i = 2; i < NF; i++) if ($(i + 1) == f) v = $i } END { print v }' "$tmp/gobench.txt"; }
# part_of NAME COMPONENT_PATTERN: the sum of the matching components' us/req.
part_of() {
	local name=$1 pattern=$2 c sum=0
	for c in "${parts[@]}"; do
		[[ $c =~ $pattern ]] && sum=$(awk -v a="$sum" -v b="${part[$name,$c]:-0}" 'BEGIN { print a + b }')
	done
	printf '%.2f' "$sum"
}

# Why a target is missed, from the figures of this run.
why=""
if [[ $(verdict "$status_ratio" "$STATUS_TARGET") != met || $(verdict "$status_cpu_ratio" "$STATUS_TARGET") != met ]]; then
	why+="- **Status poll, ${status_ratio}x by req/s, ${status_cpu_ratio}x by capacity.** A poll costs ${cpu[status]} us of server CPU against the baseline's ${cpu[baseline]}"
	why+=" ($(delta "${cpu[status]}" "${cpu[baseline]}") us: user $(delta "${user[status]}" "${user[baseline]}"), system $(delta "${sys[status]}" "${sys[baseline]}")). "
	why+="The baseline sets no connection deadlines; with a default gateway's read, write and idle timeouts the same handler costs ${cpu[baseline_to]} us"
	why+=" ($(delta "${cpu[baseline_to]}" "${cpu[baseline]}") us, ${timeouts_cpu_ratio}x by CPU): fasthttp sets three deadlines per request (idle wait, read, write), each a clock read and a runtime timer update. Against that baseline the status poll is $(ratio "${cpu[baseline_to]}" "${cpu[status]}")x by capacity. "
	why+="The handler itself, from reading the request header to the answer, is $(gobench StatusWaiting ns/op) ns and $(gobench StatusWaiting allocs/op) allocations (BenchmarkStatusWaiting). "
	why+="The poll request carries a ${#status_cookie}-byte Cookie header (ticket and device id), where wrk sends the baseline none."
	[[ -z ${calls[status]:-} ]] || why+=" System calls per request: ${calls[status]} against the baseline's ${calls[baseline]} (strace)."
	if ((${#profiled[@]})); then
		why+=" By component (table above), status minus baseline: fasthttp $(delta "$(part_of status fasthttp)" "$(part_of baseline fasthttp)"), Go runtime $(delta "$(part_of status runtime)" "$(part_of baseline runtime)"), waitroom code and crypto $(delta "$(part_of status 'waitroom|crypto')" 0), kernel $(delta "$(part_of status kernel)" "$(part_of baseline kernel)") us/req."
	fi
	why+=$'\n'
fi
if [[ $(verdict "$proxy_ratio" "$PROXY_TARGET") != met || $(verdict "$proxy_cpu_ratio" "$PROXY_TARGET") != met ]]; then
	why+="- **Admitted proxy, ${proxy_ratio}x by req/s, ${proxy_cpu_ratio}x by capacity.** A proxied request costs the gateway ${cpu[proxy]} us of CPU against nginx's ${cpu[nginx]}"
	why+=" ($(delta "${cpu[proxy]}" "${cpu[nginx]}") us: user $(delta "${user[proxy]}" "${user[nginx]}"), system $(delta "${sys[proxy]}" "${sys[nginx]}")). "
	if [[ -n ${calls[proxy]:-} ]]; then
		why+="System calls per request (strace): the gateway ${calls[proxy]}, ${wasted[proxy]} of them reads that found nothing yet (Go tries a read before it parks the goroutine on the netpoller), nginx ${calls[nginx]} (it reads when epoll says there is data). "
	fi
	why+="In user space: "
	if ((${#profiled[@]})); then
		why+="nginx's user time is $(part_of nginx '^nginx$') us/req, the gateway's fasthttp $(part_of proxy fasthttp) (parsing and writing the request and the response on both sides), Go runtime $(part_of proxy runtime) (goroutine switches, netpoller, the deadlines of both connections, GC), waitroom code and crypto $(part_of proxy 'waitroom|crypto') (admission check, header rewriting), Go net and bufio $(part_of proxy 'Go_net') us/req. "
	else
		why+="fasthttp parses and writes the request and the response on both sides, and the Go runtime switches goroutines and updates the deadlines of both connections. "
	fi
	why+="The gateway's own work on the path is small: BenchmarkProxyAdmitted (with its loopback backend round trip) is $(gobench ProxyAdmitted ns/op) ns and $(gobench ProxyAdmitted allocs/op) allocations, the allocations all in streaming the response body (fasthttp's stream and its release hooks)."
	why+=$'\n'
fi

model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1 || true)
wrk_version=$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }' || true)
nginx_version=$(nginx -v 2>&1 | sed 's/^nginx version: //')
redis_version=""
if ((MEASURE)); then redis_version=$(redis-server --version | awk '{ print $3 }' | sed 's/^v=//'); fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" with uncommitted changes"

mkdir -p docs
{
	cat <<EOF
# Performance

Generated by \`scripts/bench.sh\` (\`make bench\`): run it again rather than edit this file.
Absolute req/s depend on the machine and the moment; the ratios, measured in one run under the
same load, are what the targets are about.

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) CPUs, ${model:-unknown CPU}, Linux $(uname -r); load average $load_before
  before the run, $load_after after the wrk runs (anything above 0 is other work competing for the CPUs)
- software: $(go version | awk '{ print $3 }'), $wrk_version, $nginx_version${redis_version:+, Redis $redis_version}, commit $commit
- load: \`wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION\` over keep-alive connections, pinned to CPU $LOAD_CPU
- servers: pinned to CPU $SERVER_CPU, one core each: the Go servers with GOMAXPROCS=1, nginx with one
  worker. The demo backend shares CPU $SERVER_CPU with whichever proxy is in front of it.
- method: each group (the two baselines and the status poll; nginx and the gateway proxy) is warmed
  up for 2 s, then measured in turn $ROUNDS times; medians count. A run with any non-2xx answer or
  socket error stops the script. "server CPU us/req" is the user + system CPU time of the server
  process (nginx: master and worker; proxies: without the backend) divided by the requests served
  (median of the runs): one core's capacity is 1e6 / that, and other work on the machine moves it
  much less than req/s. "server busy" is that CPU time as a share of one core (median). For the
  baselines and the gateway's own answers, well under 100% means the server was not the bottleneck
  (wrk, one thread, or other work was) and its req/s understate what it can serve; behind the
  proxies the demo backend takes the rest of the core.

## Throughput

$summary

$ratios

$ratio_note
- The status poll is a waiting ticket (\`wr_ticket\` and \`wr_device\` cookies) answered from memory;
  the store is paused at 1 person per hour so the ticket stays waiting. The answer does not repeat
  the ticket (the join answer hands it out).
- The admitted proxy sends \`Cookie: wr_admission=...; wr_device=...\`: an Ed25519 token checked
  through the verified-token cache, then a keep-alive round trip to the demo backend. nginx runs
  \`proxy_pass\` to the same backend over a keep-alive upstream (\`proxy_http_version 1.1\`, empty
  \`Connection\`, no request limit per connection) and sets the same X-Forwarded-For/-Proto/-Host.
- Every join is a first visit (wrk keeps no cookies): a new device id, a place from the in-memory
  store, an HS256 ticket and two cookies.
EOF
	if [[ -n $breakdown ]]; then
		cat <<EOF

## Where the CPU goes

\`perf record\` of each server (${profiled[*]}) for 5 s under the same wrk load, its samples sorted
by component; each component's share times the server's median CPU per request above. The
profiles are taken after the measured runs; perf's own cost is not in the figures.

$breakdown
EOF
	fi
	if [[ -n $why ]]; then
		cat <<EOF

## Why targets are missed (by req/s or by capacity)

From this run's figures:

$why
EOF
	fi
	if [[ -n $measure_md ]]; then
		cat <<EOF

## With Redis: joins, polls and a million people waiting

\`WAITROOM_MEASURE=1 go test -run TestMeasure_Fleet ./integration/\`, one run (load average
$measure_load_before before, $measure_load_after after): one gateway process on Redis $redis_version with
the room paused, driven by 64 fasthttp clients in the test process, all on this machine without
pinning, so req/s are lower bounds. Gateway CPU is the process's user + system time per request;
Redis figures are net of what the gateway's release controller costs while idle. Then a million
people join through the same gateway; its resident set size (\`VmRSS\`, read once it stops moving
after each step) is recorded as the queue grows, and Redis's \`used_memory\` before and after. The
last 1,000 people poll once, so the heartbeat string (4 bytes per position, written by the
gateway in batches every 250 ms) reaches the end of the queue.

$measure_md
EOF
	fi
	cat <<EOF

## Microbenchmarks

\`go test -run '^\$' -bench . -benchmem ./gateway/ ./ticket/\`, run before the servers start, with
GOMAXPROCS = all CPUs. The gateway benchmarks read the request header from its bytes in every
iteration, as the server does. The waiting status poll must stay at 0 allocs/op
(\`TestStatusWaitingAllocs\` in ./gateway/ fails otherwise); its few bytes per op are the heartbeat
buffer growing to its working size, amortised.

\`\`\`
$(grep -E '^(goos|goarch|cpu|pkg|Benchmark)' "$tmp/gobench.txt")
\`\`\`
EOF
} >docs/PERFORMANCE.md

printf '\n%s\n\n%s\n\n' "$summary" "$ratios"
[[ -z $breakdown ]] || printf '%s\n\n' "$breakdown"
log "wrote docs/PERFORMANCE.md"
