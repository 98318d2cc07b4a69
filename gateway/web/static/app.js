// Waiting page: join on load (a refresh keeps the place), poll status exactly
// as often as the server's poll_after_ms says, go to the redirect when
// admitted. Errors never cost the place and never make the page poll fast.
// In identity mode a join without a ticket shows the verification methods.
// A hidden page tells the gateway it may sleep (see sleep below); turn.js
// tells the person when their turn is near and when it comes.
// Under node it only exports its pure helpers, for tests.
'use strict';
(function (out) {
  function pad(n) { return (n < 10 ? '0' : '') + n; }

  var T = {
    ko: {
      waiting: '접속 대기 중입니다',
      paused: '입장이 잠시 멈춰 있습니다',
      admitted: '입장 차례가 되었습니다',
      over: '입장 가능 시간이 지났습니다',
      retry: '다시 연결하는 중입니다',
      verify: '본인 인증이 필요합니다',
      end: { window_closed: '이번 예약 기간이 끝났습니다', session_ended: '예약이 완료되어 세션이 종료되었습니다' },
      busy: '잠시 후 다시 시도하거나 다른 인증 수단을 선택하세요',
      pausedNote: '운영자가 입장을 잠시 멈췄습니다. 대기 순번은 그대로 유지됩니다.',
      storeNote: '대기열 서버에 잠시 연결할 수 없어 입장을 멈췄습니다. 대기 순번은 그대로 유지됩니다.',
      back: '다시 오셨습니다. 자리를 비운 사이 차례가 지나갔지만 순번은 유지되며 곧 입장합니다.',
      down: '대기열 서버에 잠시 연결할 수 없습니다. 대기 순번은 그대로 유지되며 {s}초 후 다시 연결합니다.',
      net: '네트워크 연결이 원활하지 않습니다. 대기 순번은 그대로 유지되며 {s}초 후 다시 시도합니다.',
      expired: '대기표가 만료되어 새 대기 순번을 받습니다. 잠시만 기다려 주세요.',
      proving: '같은 네트워크에서 접속한 분이 많아 확인 중입니다. 잠시만 기다려 주세요.',
      pos: function (n) { return n + '번'; },
      ahead: function (n) { return n + '명'; },
      under: '1분 미만',
      about: function (h, m) { return '약 ' + (h ? h + '시간' + (m ? ' ' + m + '분' : '') : m + '분'); },
      later: '입장 재개 후 안내',
      rate: function (n) { return '시간당 ' + n + '명 입장'; },
      live: function (a, e) { return '앞에 ' + a + '명, 예상 대기 시간 ' + e; },
      when: function (m, d, hm) { return m + '월 ' + d + '일 ' + hm; }
    },
    en: {
      waiting: 'You are in the queue',
      paused: 'Admission is paused',
      admitted: 'It is your turn',
      over: 'Your time to enter ran out',
      retry: 'Reconnecting',
      verify: 'Verification required',
      end: { window_closed: 'This booking window has closed', session_ended: 'Your booking session has ended' },
      busy: 'Wait a moment or pick another method',
      pausedNote: 'The operator has paused admission for a moment. You keep your place.',
      storeNote: 'Admission stopped because the queue server cannot be reached for a moment. You keep your place.',
      back: 'Welcome back. Your turn came while you were away: you keep your place and are let in shortly.',
      down: 'The queue server cannot be reached right now. You keep your place; reconnecting in {s} s.',
      net: 'The network connection is unstable. You keep your place; trying again in {s} s.',
      expired: 'Your queue ticket expired, so you are getting a new place in line. Please wait.',
      proving: 'Many people join from your network: your browser is doing a short check. Please wait.',
      pos: function (n) { return 'No. ' + n; },
      ahead: function (n, x) { return n + (x === 1 ? ' person' : ' people'); },
      under: 'under 1 min',
      about: function (h, m) { return 'about ' + (h ? h + ' h' + (m ? ' ' + m + ' min' : '') : m + ' min'); },
      later: 'after admission resumes',
      rate: function (n) { return 'Admitting ' + n + ' people per hour'; },
      live: function (a, e) { return a + ' people ahead, estimated wait ' + e; },
      when: function (m, d, hm) { return d + ' ' + 'JanFebMarAprMayJunJulAugSepOctNovDec'.substr(m * 3 - 3, 3) + ' ' + hm + ' KST'; }
    }
  };

  // safe keeps only a same-origin path: no "//host" or "/\host", and no
  // control characters, which URL parsing drops ("/\t/host" is "//host").
  function safe(p) {
    return typeof p === 'string' && /^\/(?![/\\])[^\x00-\x20\x7f]*$/.test(p) ? p : '/';
  }

  function eta(t, sec) {
    if (!(sec >= 0)) return '-';
    if (sec < 60) return t.under;
    var m = Math.round(sec / 60);
    return t.about(Math.floor(m / 60), m % 60);
  }

  // when formats an RFC 3339 instant in Korea time: UTC+9, without daylight
  // saving since 1988, so no time-zone data is needed.
  function when(t, iso) {
    var ms = Date.parse(iso), s = ms === ms && new Date(ms + 9 * 3600000).toISOString();
    return s ? t.when(+s.substr(5, 2), +s.substr(8, 2), s.substr(11, 5)) : '-';
  }

  // clock formats a countdown as h:mm:ss (m:ss under an hour).
  function clock(sec) {
    var s = Math.max(0, Math.ceil(sec)) || 0, h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h ? h + ':' + pad(m) : m) + ':' + pad(s % 60);
  }

  function start(name, ret) {
    return '/waitroom/auth/' + encodeURIComponent(name) + '/start?return=' + encodeURIComponent(ret);
  }

  // zeroBits counts the leading zero bits of a digest.
  function zeroBits(b) {
    for (var i = 0, n = 0; i < b.length; i++, n += 8) if (b[i]) return n + Math.clz32(b[i]) - 24;
    return n;
  }

  // solve finds the proof of work the gateway asks of a busy network
  // address: a nonce such that SHA-256(challenge + ':' + nonce) starts with
  // bits zero bits; WebCrypto digests are asynchronous, so 256 at a time.
  async function solve(c) {
    var enc = new TextEncoder();
    for (var n = 0; n < 1 << 30; n += 256) {
      var batch = [];
      for (var i = 0; i < 256; i++) batch.push(crypto.subtle.digest('SHA-256', enc.encode(c.challenge + ':' + (n + i).toString(36))));
      var sums = await Promise.all(batch);
      for (i = 0; i < 256; i++) if (zeroBits(new Uint8Array(sums[i])) >= c.bits) return c.challenge + ':' + (n + i).toString(36);
    }
    throw new Error('no proof');
  }

  out.T = T; out.safe = safe; out.eta = eta; out.when = when; out.clock = clock; out.start = start; out.zeroBits = zeroBits; out.solve = solve;
  if (typeof document === 'undefined') return;

  var lang = document.documentElement.lang === 'en' ? 'en' : 'ko';
  var t = T[lang];
  var nf = new Intl.NumberFormat(lang === 'en' ? 'en-US' : 'ko-KR');
  var turn = window.waitroomTurn;
  var title = document.title;
  var timer = 0;
  var tick = 0;
  var fails = 0;
  var said = null; // what the polite live region last said of the numbers: {ahead, at}
  var again = false; // the next join asks for a new place
  var waiting = false; // the last answer was "waiting": the page may sleep
  var entering = ''; // admitted: where to go once the person looks
  var proof = ''; // a proof of work for this device, once a busy address needed one

  function $(id) { return document.getElementById(id); }
  // text leaves unchanged text alone, so live regions do not repeat it.
  function text(id, s) { if ($(id).textContent !== s) $(id).textContent = s; }

  var ret = safe(new URLSearchParams(location.search).get('return'));
  if (ret !== '/') {
    var sw = $('lang-switch');
    var u = new URL(sw.href);
    u.searchParams.set('return', ret);
    sw.href = u.href;
  }

  function later(fn, ms) {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  }

  function note(s) {
    text('notice', s);
    $('notice').hidden = !s;
  }

  // view shows one view, or none (''), under the state line s and notice n.
  function view(m, s, n) {
    waiting = false;
    entering = '';
    ['queue', 'prequeue', 'methods', 'turn', 'over'].forEach(function (id) { $(id).hidden = id !== m; });
    $('hint').hidden = !/queue/.test(m);
    clearInterval(tick);
    text('state', s);
    note(n || '');
  }

  function bar(f) {
    var pct = Math.round(Math.max(0, Math.min(1, f)) * 100);
    var p = $('progress');
    p.style.width = pct + '%';
    p.setAttribute('aria-valuenow', pct);
  }

  // progress is 1 - ahead / ahead-at-first-sight, remembered per place
  // (position) for this tab, so a refresh does not restart the bar.
  function progress(d) {
    var k = 'waitroom.first', v = null;
    try { v = JSON.parse(sessionStorage.getItem(k)); } catch (e) { /* storage off: start afresh */ }
    if (!v || v.p !== d.position || d.ahead > v.a) {
      v = { p: d.position, a: d.ahead };
      try { sessionStorage.setItem(k, JSON.stringify(v)); } catch (e) { /* keep it in memory only */ }
    }
    return v.a > 0 ? 1 - d.ahead / v.a : 1;
  }

  function poll(d) {
    later(status, Math.max(1000, Number(d.poll_after_ms) || 5000));
  }

  function msg(m) { // the operator's; kept if unchanged, so read out once
    var e = $('message');
    if (e.textContent !== m) e.textContent = m;
    e.hidden = !m;
  }

  function show(d) {
    fails = 0;
    msg(d.message || '');
    if (d.state === 'pre_queue') return pre(d);
    if (d.state === 'admitted') return admitted(d);
    var ahead = nf.format(d.ahead);
    var e = d.paused ? t.later : eta(t, d.eta_seconds);
    view('queue', d.paused ? t.paused : t.waiting,
      d.paused ? (d.pause_reason === 'store_unreachable' ? t.storeNote : t.pausedNote) : d.rejoining && t.back);
    waiting = true;
    text('position', t.pos(nf.format(d.position)));
    text('ahead', t.ahead(ahead, d.ahead));
    text('eta', e);
    text('rate', d.rate_per_hour > 0 ? t.rate(nf.format(d.rate_per_hour)) : '');
    bar(progress(d));
    turn.title('(' + ahead + ') ' + title);
    if (d.soon) turn.soon(e);
    // Screen readers hear the numbers when they first show, then when the
    // people ahead halved (at most every 10 s) or changed over a minute:
    // not every poll.
    var now = Date.now();
    if (!said || (d.ahead <= said.ahead / 2 && now - said.at >= 10000) || (d.ahead !== said.ahead && now - said.at >= 60000)) {
      said = { ahead: d.ahead, at: now };
      text('live', t.live(ahead, e));
    }
    poll(d);
  }

  // countdown shows the seconds left in #id every second, on the monotonic
  // clock (a wrong wall clock cannot skew it), and calls done at zero.
  function countdown(id, sec, done) {
    var end = performance.now() + (Number(sec) || 0) * 1000;
    var count = function () {
      var left = (end - performance.now()) / 1000;
      text(id, clock(left));
      if (left <= 0 && done) {
        clearInterval(tick);
        done();
      }
    };
    count();
    tick = setInterval(count, 1000);
  }

  function pre(d) {
    view('prequeue', t.waiting);
    text('opens-at', when(t, d.opens_at));
    text('pre-queued', t.ahead(nf.format(d.pre_queued), d.pre_queued));
    text('commitment', String(d.commitment || '-').slice(0, 12));
    countdown('countdown', d.eta_seconds);
    poll(d);
  }

  // admitted shows how long the admission lasts and goes in three seconds
  // after the person looks at the page (at once by the link): someone in
  // another tab or app is told by turn.js and finds the page waiting.
  function admitted(d) {
    clearTimeout(timer);
    view('turn', t.admitted);
    entering = $('enter').href = safe(d.redirect);
    countdown('time-left', d.admission_seconds, over);
    turn.title(title);
    turn.turn(eta(t, d.admission_seconds));
    wake();
  }

  // over: the time to enter ran out; a new place is one click away.
  function over() {
    clearTimeout(timer);
    said = null;
    turn.stop();
    view('over', t.over);
  }
  $('again').addEventListener('click', function () {
    again = true;
    joinQueue();
  });

  // picker words each light as the legend does (which ends with "off", for
  // unknown lights); only changed items are rebuilt, so focus stays put.
  function picker(list) {
    var ul = $('methods').querySelector('ul'), lg = $('methods').querySelector('.legend');
    while (ul.children.length > list.length) ul.removeChild(ul.lastChild);
    list.forEach(function (m, i) {
      var li = ul.children[i] || ul.appendChild(document.createElement('li'));
      var k = lg.querySelector('[data-light="' + CSS.escape(String(m.light)) + '"]') || lg.lastElementChild;
      var label = (lang === 'en' && m.label_en) || m.label || m.name;
      var key = [m.name, k.dataset.light, !!m.accepting, label].join();
      if (li.dataset.key === key) return;
      li.dataset.key = key;
      li.dataset.method = m.name;
      li.dataset.light = k.dataset.light;
      li.textContent = '';
      var v = li.appendChild(document.createElement(m.accepting ? 'a' : 'span'));
      v.className = 'verify';
      v.textContent = k.querySelector('dt').textContent + ' ' + label;
      if (m.accepting) v.href = start(m.name, ret);
      else {
        v.setAttribute('aria-disabled', 'true');
        li.appendChild(document.createElement('p')).textContent = t.busy;
      }
    });
  }

  function signals() { // a network error reads as an empty answer
    return call('GET', 'signals').catch(function () { return {}; });
  }

  // methods refreshes the picker every 5 s; a 404 means identity mode is off.
  async function methods() {
    var r = await signals();
    if (r.status === 404) return retry(joinQueue, r.after, t.down);
    view('methods', t.verify);
    if (!(r.body && Array.isArray(r.body.methods))) return retry(methods, r.after, r.status === 503 ? t.down : t.net);
    fails = 0;
    picker(r.body.methods);
    later(methods, 5000);
  }

  // retry waits Retry-After seconds when the server gives them, else
  // 2, 4, 8, 16, 30, 30, ... seconds; the ticket cookie keeps the place.
  function retry(fn, after, msg) {
    fails++;
    var s = parseInt(after, 10);
    if (!(s > 0)) s = Math.min(30, Math.pow(2, fails));
    s = Math.min(s, 300);
    text('state', t.retry);
    note(msg.replace('{s}', s));
    later(fn, s * 1000);
  }

  async function call(method, path, body) {
    var ac = new AbortController();
    var stop = setTimeout(function () { ac.abort(); }, 15000);
    var init = { method: method, credentials: 'same-origin', cache: 'no-store', signal: ac.signal, headers: { Accept: 'application/json' } };
    if (body) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      var r = await fetch('/waitroom/api/' + path, init);
      var j = null;
      try { j = await r.json(); } catch (e) { /* not JSON: judged by status */ }
      return { status: r.status, after: r.headers.get('Retry-After'), body: j };
    } finally {
      clearTimeout(stop);
    }
  }

  // step makes one request; every outcome but a final one schedules exactly
  // one next step.
  async function step(join) {
    var next = join ? joinQueue : status;
    var r;
    try {
      r = await call(join ? 'POST' : 'GET', join ? 'join' : document.hidden ? 'status?away=1' : 'status', join ? { return: ret, again: again, proof: proof } : null);
    } catch (e) {
      return retry(next, null, t.net);
    }
    again = false;
    if (r.status === 200 && r.body && r.body.state) return show(r.body);
    var code = r.body && r.body.error && r.body.error.code;
    if (code === 'admission_expired') return over();
    if (code === 'verify_first') return methods();
    if (join && (code === 'challenge_required' || code === 'challenge_failed')) return prove();
    if (t.end[code]) return view('', t.end[code]);
    if (r.status === 401 && !join) {
      // The ticket is gone: say so, then take a new place.
      text('state', t.retry);
      note(t.expired);
      return later(joinQueue, 3000);
    }
    if (r.status === 400 && join && ret !== '/') {
      ret = '/';
      return later(joinQueue, 1000);
    }
    retry(next, r.after, r.status === 503 ? t.down : t.net);
  }

  // prove solves the challenge for this device, then joins with the proof.
  async function prove() {
    text('state', t.retry);
    note(t.proving);
    try {
      var c = await call('GET', 'challenge');
      if (!(c.status === 200 && c.body && c.body.challenge)) return retry(joinQueue, c.after, t.net);
      proof = await solve(c.body);
    } catch (e) {
      return retry(joinQueue, null, t.net);
    }
    joinQueue();
  }

  function joinQueue() { step(true); }
  function status() { step(false); }

  // sleep: a hidden page's timers are slowed to a minute or stopped (a
  // locked phone, another tab, a frozen page), so as it goes it tells the
  // gateway to count it present for queue.sleep_grace, and polls at once
  // when it is back. Unloading is leaving: the gateway then holds the
  // place only for the usual grace.
  function away(q) {
    if (waiting && navigator.sendBeacon) navigator.sendBeacon('/waitroom/api/away' + q);
  }
  function wake() {
    if (document.hidden) return;
    var go = entering;
    if (go) later(function () { location.replace(go); }, 3000);
    else if (waiting) status();
  }
  document.addEventListener('visibilitychange', function () { return document.hidden ? away('') : wake(); });
  document.addEventListener('freeze', function () { away(''); });
  document.addEventListener('resume', wake);
  window.addEventListener('online', wake);
  window.addEventListener('pagehide', function (e) { if (!e.persisted) away('?left=1'); });

  joinQueue();
})(typeof module === 'object' ? module.exports : {});
