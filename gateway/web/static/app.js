// Waiting page: join on load (a refresh keeps the place), poll status exactly
// as often as the server's poll_after_ms says, go to the redirect when
// admitted. Errors never cost the place and never make the page poll fast.
'use strict';
(function () {
  var T = {
    ko: {
      waiting: '접속 대기 중입니다',
      paused: '입장이 잠시 멈춰 있습니다',
      admitted: '입장 차례가 되었습니다. 예약 페이지로 이동합니다',
      retry: '다시 연결하는 중입니다',
      pausedNote: '운영자가 입장을 잠시 멈췄습니다. 대기 순번은 그대로 유지됩니다.',
      down: '대기열 서버에 잠시 연결할 수 없습니다. 대기 순번은 그대로 유지되며 {s}초 후 다시 연결합니다.',
      net: '네트워크 연결이 원활하지 않습니다. 대기 순번은 그대로 유지되며 {s}초 후 다시 시도합니다.',
      expired: '대기표가 만료되어 새 대기 순번을 받습니다. 잠시만 기다려 주세요.',
      pos: function (n) { return n + '번'; },
      ahead: function (n) { return n + '명'; },
      under: '1분 미만',
      about: function (h, m) { return '약 ' + (h ? h + '시간' + (m ? ' ' + m + '분' : '') : m + '분'); },
      later: '입장 재개 후 안내',
      rate: function (n) { return '시간당 ' + n + '명 입장'; },
      live: function (a, e) { return '앞에 ' + a + '명, 예상 대기 시간 ' + e; }
    },
    en: {
      waiting: 'You are in the queue',
      paused: 'Admission is paused',
      admitted: 'It is your turn. Taking you to the booking page',
      retry: 'Reconnecting',
      pausedNote: 'The operator has paused admission for a moment. You keep your place.',
      down: 'The queue server cannot be reached right now. You keep your place; reconnecting in {s} s.',
      net: 'The network connection is unstable. You keep your place; trying again in {s} s.',
      expired: 'Your queue ticket expired, so you are getting a new place in line. Please wait.',
      pos: function (n) { return 'No. ' + n; },
      ahead: function (n, x) { return n + (x === 1 ? ' person' : ' people'); },
      under: 'under 1 min',
      about: function (h, m) { return 'about ' + (h ? h + ' h' + (m ? ' ' + m + ' min' : '') : m + ' min'); },
      later: 'after admission resumes',
      rate: function (n) { return 'Admitting ' + n + ' people per hour'; },
      live: function (a, e) { return a + ' people ahead, estimated wait ' + e; }
    }
  };
  var lang = document.documentElement.lang === 'en' ? 'en' : 'ko';
  var t = T[lang];
  var nf = new Intl.NumberFormat(lang === 'en' ? 'en-US' : 'ko-KR');
  var title = document.title;
  var timer = 0;
  var fails = 0;
  var said = 0;

  function $(id) { return document.getElementById(id); }
  function text(id, s) { $(id).textContent = s; }

  // safe keeps only a same-origin path: no "//host" or "/\host", and no
  // control characters, which URL parsing drops ("/\t/host" is "//host").
  function safe(p) {
    return typeof p === 'string' && /^\/(?![/\\])[^\x00-\x20\x7f]*$/.test(p) ? p : '/';
  }

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
    var n = $('notice');
    n.textContent = s;
    n.hidden = !s;
  }

  function eta(sec) {
    if (!(sec >= 0)) return '-';
    if (sec < 60) return t.under;
    var m = Math.round(sec / 60);
    return t.about(Math.floor(m / 60), m % 60);
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

  function show(d) {
    fails = 0;
    if (d.state === 'admitted') {
      clearTimeout(timer);
      text('state', t.admitted);
      note('');
      bar(1);
      location.replace(safe(d.redirect));
      return;
    }
    var ahead = nf.format(d.ahead);
    var e = d.paused ? t.later : eta(d.eta_seconds);
    text('state', d.paused ? t.paused : t.waiting);
    note(d.paused ? t.pausedNote : '');
    text('position', t.pos(nf.format(d.position)));
    text('ahead', t.ahead(ahead, d.ahead));
    text('eta', e);
    text('rate', d.rate_per_hour > 0 ? t.rate(nf.format(d.rate_per_hour)) : '');
    bar(progress(d));
    document.title = '(' + ahead + ') ' + title;
    // Screen readers hear the numbers at most once a minute, not every poll.
    if (Date.now() - said >= 60000) {
      said = Date.now();
      text('live', t.live(ahead, e));
    }
    later(status, Math.max(1000, Number(d.poll_after_ms) || 5000));
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

  // step makes one request; every outcome schedules exactly one next step.
  async function step(join) {
    var again = join ? joinQueue : status;
    var r;
    try {
      r = await call(join ? 'POST' : 'GET', join ? 'join' : 'status', join ? { return: ret } : null);
    } catch (e) {
      return retry(again, null, t.net);
    }
    if (r.status === 200 && r.body && r.body.state) return show(r.body);
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
    retry(again, r.after, r.status === 503 ? t.down : t.net);
  }

  function joinQueue() { step(true); }
  function status() { step(false); }

  joinQueue();
})();
