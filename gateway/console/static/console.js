// Operator console: sign in with the admin token (posted once, never put in
// a URL), then poll the live view every second and the hour's history every
// ten seconds, and send the controls, each after a confirmation. Changes
// carry the session's CSRF token in X-CSRF-Token; the session cookie itself
// is HttpOnly. Everything from the server is shown as text, never as HTML.
// Under node it only exports its pure helpers, for tests.
'use strict';
(function (out) {
  var HOUR = 3600000;
  var MAX_MESSAGE = 200;

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // num formats a count with thousands separators; '-' for no number.
  function num(n) {
    return typeof n === 'number' && isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
  }

  // dur formats seconds as "2 h 05 min", "12 min 30 s" or "45 s".
  function dur(sec) {
    if (!(sec >= 0)) return '-';
    var s = Math.round(sec), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    if (h) return h + ' h ' + pad(m) + ' min';
    if (m) return m + ' min ' + pad(s % 60) + ' s';
    return s + ' s';
  }

  // ms formats milliseconds with a precision that suits their size.
  function ms(v) {
    if (!(v >= 0)) return '-';
    return (v < 10 ? v.toFixed(1) : num(v)) + ' ms';
  }

  // localInput turns an RFC 3339 instant into a datetime-local value in
  // the browser's time zone; '' for none.
  function localInput(iso) {
    var d = new Date(iso || NaN);
    if (isNaN(d)) return '';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // fromInput turns a datetime-local value into RFC 3339; '' for an empty
  // field, null for one that is not a time.
  function fromInput(v) {
    if (!v) return '';
    var d = new Date(v);
    return isNaN(d) ? null : d.toISOString();
  }

  // shown formats an instant for people: local time and time zone offset.
  function shown(iso) {
    var d = new Date(iso || NaN);
    if (isNaN(d)) return iso ? String(iso) : 'never';
    var off = -d.getTimezoneOffset(), sign = off < 0 ? '-' : '+';
    off = Math.abs(off);
    return localInput(iso).replace('T', ' ') + ' UTC' + sign + pad(Math.floor(off / 60)) + ':' + pad(off % 60);
  }

  // messageProblem says what is wrong with a message, or '' when it can be
  // published: plain text on one line, at most 200 characters.
  function messageProblem(s) {
    if (Array.from(s).length > MAX_MESSAGE) return 'at most ' + MAX_MESSAGE + ' characters';
    if (/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/.test(s)) {
      return 'one line of plain text, without control characters';
    }
    return '';
  }

  // nice rounds a chart's top up to 1, 2 or 5 times a power of ten.
  function nice(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  // line draws one series over the hour before now as an SVG path in a
  // w x h box with top at max. A gap of more than three sample intervals
  // (the gateway was down) breaks the line.
  function line(points, now, max, w, h) {
    var d = '', last = null;
    points.forEach(function (p) {
      if (typeof p.v !== 'number' || !isFinite(p.v)) { last = null; return; }
      var x = (p.t - (now - HOUR)) / HOUR * w;
      if (x < 0) return;
      var y = h - Math.min(p.v / max, 1) * h;
      d += (last === null || p.t - last > 30000 ? 'M' : 'L') + x.toFixed(1) + ',' + y.toFixed(1);
      last = p.t;
    });
    return d;
  }

  out.num = num; out.dur = dur; out.ms = ms; out.localInput = localInput; out.fromInput = fromInput;
  out.shown = shown; out.messageProblem = messageProblem; out.nice = nice; out.line = line;
  if (typeof document === 'undefined') return;

  var csrf = '';
  var pollTimer = 0, historyTimer = 0;
  var pending = null; // the confirmed control's action
  var last = null;    // the latest live view
  var methods = '';   // the methods listed in #light-method

  function $(id) { return document.getElementById(id); }
  function text(id, s) { $(id).textContent = s; }

  async function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (method !== 'GET') init.headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var r = await fetch('/admin/api/' + path, init);
    var j = null;
    try { j = await r.json(); } catch (e) { /* not JSON: judged by status */ }
    return { status: r.status, body: j, after: r.headers.get('Retry-After') };
  }

  function problem(r) {
    return (r.body && r.body.error && r.body.error.message) || ('the gateway answered ' + r.status);
  }

  // Signing in and out.

  function signedOut(why) {
    csrf = '';
    clearTimeout(pollTimer);
    clearTimeout(historyTimer);
    $('console').hidden = true;
    $('signout').hidden = true;
    $('signin').hidden = false;
    text('session-info', '');
    var e = $('signin-error');
    e.textContent = why || '';
    e.hidden = !why;
    $('signin-token').focus();
  }

  function signedIn(s) {
    csrf = s.csrf;
    $('signin').hidden = true;
    $('console').hidden = false;
    $('signout').hidden = false;
    text('session-info', 'Signed in until ' + shown(s.expires));
    poll();
    history();
    audit();
  }

  $('signin-form').addEventListener('submit', async function (e) {
    e.preventDefault();
    var input = $('signin-token'), token = input.value;
    input.value = '';
    $('signin-submit').disabled = true;
    var r;
    try {
      r = await api('POST', 'signin', { token: token });
    } catch (err) {
      r = null;
    } finally {
      $('signin-submit').disabled = false;
    }
    if (!r) return signedOut('The gateway cannot be reached.');
    if (r.status === 200 && r.body && r.body.csrf) return signedIn(r.body);
    if (r.status === 429) return signedOut('Too many failed attempts from this address: try again in ' + dur(Number(r.after)) + '.');
    signedOut(r.status === 401 ? 'Wrong token.' : problem(r));
  });

  $('signout').addEventListener('click', async function () {
    try { await api('POST', 'signout'); } catch (e) { /* signed out here regardless */ }
    signedOut('Signed out.');
  });

  // The live view.

  async function poll() {
    clearTimeout(pollTimer);
    var r = null;
    try { r = await api('GET', 'console'); } catch (e) { /* shown below */ }
    if (r && r.status === 401) return signedOut('Your session ended: sign in again.');
    var conn = $('conn');
    if (r && r.status === 200 && r.body) {
      conn.hidden = true;
      render(r.body);
    } else {
      conn.textContent = 'No answer from the gateway (' + (r ? problem(r) : 'network error') + '); the figures below are old. Retrying.';
      conn.hidden = false;
    }
    pollTimer = setTimeout(poll, 1000);
  }

  function render(v) {
    last = v;
    text('room', v.room);
    var p = $('paused-state');
    p.textContent = !v.paused ? 'running' : v.pause_reason === 'store_unreachable' ? 'stopped: store unreachable' : 'paused';
    p.className = 'badge ' + (v.paused ? 'paused' : 'running');
    text('queue-length', num(v.waiting));
    text('admitted-per-minute', num(v.released_last_minute));
    text('rate-target', num(v.target_per_minute));
    text('rate-per-hour', num(v.rate_per_hour));
    text('tail-wait', v.waiting > 0 ? dur(v.tail_wait_seconds) : '-');
    text('cursor', num(v.admitted));
    text('issued', num(v.issued));
    var st = $('store-health');
    st.textContent = v.store_healthy ? 'healthy' : 'UNREACHABLE';
    st.className = v.store_healthy ? '' : 'bad';
    text('store-latency', ms(v.store.latency_ms) + ' (max ' + ms(v.store.max_latency_ms) + ')');
    text('store-errors', num(v.store.errors_last_minute));
    text('backend-latency', v.backend && v.backend.requests > 0 ? ms(v.backend.p95_ms) : '-');
    text('backend-errors', v.backend ? num(v.backend.errors) + ' of ' + num(v.backend.requests) : '-');
    text('window-id', v.window.id || '(none)');
    text('window-opens', v.window.opens ? shown(v.window.opens) : 'open');
    text('window-closes', shown(v.window.closes));
    text('message-current', v.message ? '“' + v.message + '”' : '(none)');
    text('updated', new Date().toLocaleTimeString());
    text('gateway-self', v.gateway);
    lights(v.lights || []);
    gateways(v.gateways || [], v.gateway);
    var opens = $('window-opens-input');
    opens.disabled = !v.window.editable || v.window.opening_fixed;
    $('window-closes-input').disabled = !v.window.editable;
    $('window-apply').disabled = !v.window.editable;
    // Fill the controls with the current values, unless being edited.
    [['rate-input', String(v.rate_per_hour)], ['window-opens-input', localInput(v.window.opens)],
      ['window-closes-input', localInput(v.window.closes)]].forEach(function (f) {
      var el = $(f[0]);
      if (document.activeElement !== el && !el.dataset.edited) el.value = f[1];
    });
  }

  function lights(list) {
    var ul = $('lights');
    ul.textContent = '';
    $('lights-none').hidden = list.length > 0;
    list.forEach(function (m) {
      var li = ul.appendChild(document.createElement('li'));
      li.dataset.light = m.light;
      li.textContent = (m.label || m.name) + ' (' + m.name + '): ' + m.light + (m.forced ? ', forced' : '') +
        ' · ' + num(m.in_flight) + ' of ' + num(m.capacity) + ' in flight' + (m.accepting ? '' : ' · not taking new verifications');
    });
    var names = list.map(function (m) { return m.name; }).join();
    if (names === methods) return;
    methods = names;
    var sel = $('light-method');
    sel.textContent = '';
    list.forEach(function (m) {
      var o = sel.appendChild(document.createElement('option'));
      o.value = m.name;
      o.textContent = m.label || m.name;
    });
    $('light-apply').disabled = list.length === 0;
  }

  function gateways(list, self) {
    var ul = $('gateways');
    ul.textContent = '';
    text('gateway-count', String(list.length));
    list.forEach(function (g) {
      var li = ul.appendChild(document.createElement('li'));
      li.textContent = g.id + (g.id === self ? ' (this one)' : '') + ' · ' + g.room + ' · seen ' + dur(g.age_seconds) + ' ago';
    });
  }

  // The hour's charts.

  async function history() {
    clearTimeout(historyTimer);
    try {
      var r = await api('GET', 'history');
      if (r.status === 200 && r.body && Array.isArray(r.body.samples)) charts(r.body.samples);
    } catch (e) { /* the next round tries again */ }
    historyTimer = setTimeout(history, 10000);
  }

  function charts(samples) {
    var now = Date.now();
    var pts = function (k) {
      return samples.map(function (s) { return { t: Date.parse(s.at), v: s[k] }; });
    };
    chart('chart-waiting', now, [pts('waiting')], samples);
    chart('chart-admitted', now, [pts('admitted_per_minute'), pts('target_per_minute')]);
    chart('chart-latency', now, [pts('store_latency_ms'), pts('backend_p95_ms')]);
  }

  var SVG = 'http://www.w3.org/2000/svg';

  // chart draws series in an SVG of viewBox 600 x 120; with samples, the
  // intervals when release was paused are shaded.
  function chart(id, now, series, samples) {
    var svg = $(id), w = 600, h = 120, top = 0;
    series.forEach(function (s) { s.forEach(function (p) { if (p.v > top) top = p.v; }); });
    top = nice(top);
    text(id + '-max', num(top));
    svg.textContent = '';
    (samples || []).forEach(function (s) {
      if (!s.paused) return;
      var r = svg.appendChild(document.createElementNS(SVG, 'rect'));
      r.setAttribute('class', 'paused');
      r.setAttribute('x', ((Date.parse(s.at) - (now - HOUR)) / HOUR * w - 10000 / HOUR * w).toFixed(1));
      r.setAttribute('width', (10000 / HOUR * w).toFixed(1));
      r.setAttribute('y', '0');
      r.setAttribute('height', String(h));
    });
    series.forEach(function (s, i) {
      var p = svg.appendChild(document.createElementNS(SVG, 'path'));
      p.setAttribute('class', 's' + i);
      p.setAttribute('d', line(s, now, top, w, h) || 'M0,' + h);
    });
  }

  // The audit log.

  async function audit() {
    try {
      var r = await api('GET', 'audit?limit=200');
      if (r.status !== 200 || !r.body || !Array.isArray(r.body.records)) return;
      var tb = $('audit');
      tb.textContent = '';
      r.body.records.forEach(function (a) {
        var tr = tb.appendChild(document.createElement('tr'));
        [shown(a.at), a.what, a.before, a.after, a.from, a.via].forEach(function (v) {
          tr.appendChild(document.createElement('td')).textContent = v || '';
        });
      });
    } catch (e) { /* kept as it was; the next change reloads it */ }
  }

  // Controls: each asks for confirmation, then sends one request.

  function ask(question, action) {
    pending = action;
    text('confirm-text', question);
    $('confirm').hidden = false;
    $('confirm-no').focus();
  }

  function closeConfirm() {
    pending = null;
    $('confirm').hidden = true;
  }

  $('confirm-yes').addEventListener('click', function () {
    var action = pending;
    closeConfirm();
    if (action) action();
  });
  $('confirm-no').addEventListener('click', closeConfirm);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && !$('confirm').hidden) closeConfirm();
  });

  function result(msg, failed) {
    var el = $('control-result');
    el.textContent = msg;
    el.className = 'result' + (failed ? ' failed' : '');
    el.hidden = false;
  }

  async function send(method, path, body, done) {
    result('Sending…');
    var r;
    try {
      r = await api(method, path, body);
    } catch (e) {
      return result('The gateway could not be reached: the change may not have been made. Check the figures and the audit log.', true);
    }
    if (r.status === 401) return signedOut('Your session ended: sign in again.');
    if (r.status !== 200) return result('Refused: ' + problem(r), true);
    result(done);
    ['rate-input', 'window-opens-input', 'window-closes-input'].forEach(function (id) { delete $(id).dataset.edited; });
    poll();
    audit();
  }

  ['rate-input', 'window-opens-input', 'window-closes-input'].forEach(function (id) {
    $(id).addEventListener('input', function () { $(id).dataset.edited = '1'; });
  });

  $('rate-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var n = Number($('rate-input').value);
    if (!(Number.isInteger(n) && n >= 1 && n <= 100000000)) return result('The rate must be a whole number from 1 to 100,000,000 per hour.', true);
    var before = last ? num(last.rate_per_hour) : '?';
    ask('Change the release rate from ' + before + ' to ' + num(n) + ' people per hour (' + num(n / 60) + ' per minute)?',
      function () { send('PUT', 'rate', { per_hour: n }, 'Rate set to ' + num(n) + ' per hour.'); });
  });

  $('pause').addEventListener('click', function () {
    ask('Pause admission? Nobody new is admitted until you resume; people keep their places.',
      function () { send('POST', 'pause', undefined, 'Admission paused.'); });
  });

  $('resume').addEventListener('click', function () {
    ask('Resume admission at ' + (last ? num(last.rate_per_hour) : 'the set rate') + ' per hour?',
      function () { send('POST', 'resume', undefined, 'Admission resumed.'); });
  });

  $('light-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var m = $('light-method').value, l = $('light-value').value;
    if (!m) return;
    if (l === 'auto') l = '';
    ask((l ? 'Force the light of ' + m + ' to ' + l : 'Let the light of ' + m + ' follow its statistics again') + ' on every gateway?',
      function () { send('PUT', 'signals/' + encodeURIComponent(m), { light: l }, 'Light of ' + m + ' ' + (l ? 'forced to ' + l : 'automatic') + '.'); });
  });

  var msgInput = $('message-input');
  msgInput.addEventListener('input', function () { text('message-count', String(Array.from(msgInput.value).length)); });

  $('message-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var m = msgInput.value.trim();
    var bad = messageProblem(m);
    if (bad) return result('The message must be ' + bad + '.', true);
    if (!m) return result('The message is empty: use Clear to remove the current one.', true);
    ask('Show this message to everyone on the waiting page?\n\n“' + m + '”',
      function () { send('PUT', 'message', { message: m }, 'Message published.'); });
  });

  $('message-clear').addEventListener('click', function () {
    ask('Remove the message from the waiting page?', function () { send('PUT', 'message', { message: '' }, 'Message removed.'); });
  });

  $('window-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {}, opensIn = $('window-opens-input'), closes = fromInput($('window-closes-input').value);
    if (!opensIn.disabled) {
      var opens = fromInput(opensIn.value);
      if (!opens) return result('The opening must be a date and time.', true);
      body.opens = opens;
    }
    if (closes === null) return result('The closing must be a date and time, or empty for never.', true);
    body.closes = closes;
    var from = body.opens || (last && last.window.opens);
    if (closes && from && Date.parse(closes) <= Date.parse(from)) return result('The closing must come after the opening.', true);
    var q = 'Change the window of room ' + (last ? last.room : '') + ' to' + (body.opens ? ' open ' + shown(body.opens) + ' and' : '') +
      ' close ' + (closes ? shown(closes) : 'never') + '?';
    if (closes && Date.parse(closes) <= Date.now()) q += '\n\nThat closing has passed: the room closes NOW.';
    ask(q, function () { send('PUT', 'window', body, 'Window changed.'); });
  });

  // Start: signed in already (a session cookie) or not.
  (async function () {
    try {
      var r = await api('GET', 'session');
      if (r.status === 200 && r.body && r.body.csrf) return signedIn(r.body);
    } catch (e) { /* the sign-in form says nothing more useful */ }
    signedOut('');
  })();
})(typeof module === 'object' ? module.exports : {});
