// Your turn: tells a waiting person that their turn is near (status answers
// say "soon" once the estimated wait is under the gateway's
// queue.notice_lead) and that it came (admitted), even while they look at
// another tab or app. Each notice comes once: the tab's title blinks while
// they look elsewhere (a steady prefix under prefers-reduced-motion), a
// short beep if they ticked the sound box, a vibration where the phone
// allows it, a system notification once they allowed notifications (asked
// only when they press the button, never on load), and screen readers hear
// the near turn politely and the turn itself assertively. app.js drives it
// through window.waitroomTurn. Under node it only exports its pure helpers,
// for tests.
'use strict';
(function (out) {
  var T = {
    ko: {
      soon: ['곧 차례입니다', function (e) { return '예상 대기 시간 ' + e + '. 이 페이지로 돌아와 주세요.'; }],
      turn: ['차례입니다', function (e) { return e + ' 안에 예약 페이지에 들어가세요.'; }],
      granted: '알림이 켜져 있습니다. 차례가 가까워지면 이 탭의 제목과 알림으로 알려 드립니다.',
      denied: '이 브라우저에서 알림이 차단되어 있어, 이 탭의 제목으로 알려 드립니다.',
      none: '이 브라우저는 알림을 보낼 수 없어, 이 탭의 제목으로 알려 드립니다.'
    },
    en: {
      soon: ['Almost your turn', function (e) { return 'Estimated wait ' + e + '. Please come back to this page.'; }],
      turn: ['Your turn', function (e) { return 'Enter the booking page within ' + e + '.'; }],
      granted: 'Notifications are on: when your turn is near, this tab\'s title and a notification tell you.',
      denied: 'Notifications are blocked in this browser, so this tab\'s title tells you.',
      none: 'This browser cannot show notifications, so this tab\'s title tells you.'
    }
  };

  // heading is what the tab's title starts with during a notice, at step i
  // of its blinking: "[heading] " on even steps, or on every step when
  // steady (reduced motion, or the person is looking at the page).
  function heading(h, i, steady) {
    return h && (steady || i % 2 === 0) ? '[' + h + '] ' : '';
  }

  out.T = T; out.heading = heading;
  if (typeof document === 'undefined') return;

  var lang = document.documentElement.lang === 'en' ? 'en' : 'ko';
  var t = T[lang];
  var N = window.Notification;
  var calm = window.matchMedia && matchMedia('(prefers-reduced-motion: reduce)');
  var base = document.title, head = '', step = 0, blink = 0, audio = null, said = {};

  function $(id) { return document.getElementById(id); }

  function looking() { return !document.hidden && document.hasFocus(); }

  function title() {
    document.title = heading(head, step++, looking() || (calm && calm.matches)) + base;
  }

  // perm shows the button while the browser would still ask, else what
  // notifications will do.
  function perm() {
    var p = N ? N.permission : 'none';
    $('notify-on').hidden = p !== 'default';
    if (t[p]) $('notify-state').textContent = t[p];
  }

  $('notify-on').addEventListener('click', function () {
    N.requestPermission().then(perm, perm);
  });
  $('sound').addEventListener('change', function (e) {
    var A = window.AudioContext || window.webkitAudioContext;
    // Made on the person's click: browsers then let it play later, in the
    // background too.
    if (e.target.checked && A && !audio) audio = new A();
    beep();
  });
  perm();

  // beep plays two short 880 Hz tones when the sound box is ticked.
  function beep() {
    if (!audio || !$('sound').checked) return;
    [0, 0.35].forEach(function (at) {
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.2;
      o.connect(g);
      g.connect(audio.destination);
      o.start(audio.currentTime + at);
      o.stop(audio.currentTime + at + 0.2);
    });
  }

  // notice tells the person once of kind "soon" or "turn"; e is the wait
  // or the time left to enter, as the page words it.
  function notice(kind, e) {
    if (said[kind]) return;
    said[kind] = true;
    var h = t[kind][0], say = t[kind][1](e);
    head = h;
    title();
    if (!blink) blink = setInterval(title, 1000);
    beep();
    // Browsers refuse vibration before the person touched the page.
    if (navigator.vibrate && !(navigator.userActivation && !navigator.userActivation.hasBeenActive)) navigator.vibrate([300, 150, 300]);
    if (N && N.permission === 'granted' && !looking()) {
      try {
        var n = new N(h, { body: say, tag: 'waitroom', renotify: true, lang: lang });
        n.onclick = function () { window.focus(); n.close(); };
      } catch (err) { /* Android allows only a service worker's: the title and the page still tell */ }
    }
    // Near: politely, beside the numbers; the turn: assertively, once.
    $(kind === 'turn' ? 'alert' : 'live').textContent = h + '. ' + say;
  }

  window.waitroomTurn = {
    title: function (s) { base = s; title(); },
    soon: function (e) { notice('soon', e); },
    turn: function (e) { notice('turn', e); },
    // stop ends the notices: the turn is over.
    stop: function () { head = ''; clearInterval(blink); blink = 0; title(); }
  };
})(typeof module === 'object' ? module.exports : {});
