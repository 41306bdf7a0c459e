/* Skolassistent – embeddable chat widget. Vanilla JS, no dependencies, no build step.
 * Embed: <script src="https://HOST/widget.js" data-assistant-url="https://HOST"
 *          data-title="Fråga om skolutveckling" data-lang="sv" data-position="right" defer></script>
 * Everything is rendered in an open shadow root; all requests go only to data-assistant-url. */
(() => {
  'use strict';
  if (window.SkolAssistent || document.getElementById('skolassistent-widget')) return;

  var VERSION = '1.0.0';
  var KEY = 'skolassistent:conversation';
  var MAX_HISTORY = 10;          // previous messages sent as history
  var IDLE_TIMEOUT = 90000;      // ms without any data before giving up

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  function attr(n) { var v = script && script.getAttribute('data-' + n); return v && v.trim() ? v.trim() : ''; }
  var base = (attr('assistant-url') || (script && script.src ? script.src.replace(/[?#].*$/, '').replace(/\/widget(\.min)?\.js$/, '') : '')).replace(/\/+$/, '');
  var lang = attr('lang') === 'en' ? 'en' : 'sv';
  // Publishable key of this intranet's origin (ASSISTANT_WIDGET_KEYS); valid only from it.
  var widgetKey = attr('key');

  var S = {
    sv: {
      title: 'Fråga om skolutveckling', open: 'Öppna chatten', close: 'Stäng', label: 'Din fråga',
      placeholder: 'Skriv din fråga…', send: 'Skicka', reset: 'Ny konversation',
      welcome: 'Hej! Ställ en fråga om skolutveckling så svarar jag utifrån artiklarna och visar källorna.',
      footer: 'Svaren bygger på publicerade artiklar. Kontrollera gärna källorna.',
      you: 'Du:', bot: 'Assistenten:', typing: 'Assistenten skriver…', source: 'Källa', sources: 'Källor',
      openSource: 'Öppna källan', newTab: 'Öppnas i en ny flik', excerpt: 'Utdrag ur källa',
      extractive: 'Svar sammanställt ur artiklarna (utan språkmodell)', llm: 'Svar från språkmodell, med källor',
      forbidden: 'Den här webbplatsen har inte behörighet att använda assistenten.',
      unauthorized: 'Den här webbplatsen saknar en giltig nyckel till assistenten. Kontakta webbplatsens administratör.',
      rateN: 'För många frågor just nu. Försök igen om {n} sekunder.',
      rate: 'För många frågor just nu. Försök igen om en stund.',
      network: 'Kunde inte nå assistenten. Försök igen om en stund.',
      timeout: 'Assistenten svarade inte i tid. Försök igen.',
      generic: 'Något gick fel (fel {n}). Försök igen.',
      broken: 'Svaret avbröts innan det var klart. Försök igen.'
    },
    en: {
      title: 'Ask about school development', open: 'Open chat', close: 'Close', label: 'Your question',
      placeholder: 'Type your question…', send: 'Send', reset: 'New conversation',
      welcome: 'Hi! Ask a question about school development and I will answer from the articles and show the sources.',
      footer: 'Answers are based on published articles. Please check the sources.',
      you: 'You:', bot: 'Assistant:', typing: 'The assistant is typing…', source: 'Source', sources: 'Sources',
      openSource: 'Open source', newTab: 'Opens in a new tab', excerpt: 'Excerpt from source',
      extractive: 'Answer compiled from the articles (no language model)', llm: 'Answer from a language model, with sources',
      forbidden: 'This website is not allowed to use the assistant.',
      unauthorized: 'This site has no valid key for the assistant. Please contact the site administrator.',
      rateN: 'Too many questions right now. Try again in {n} seconds.',
      rate: 'Too many questions right now. Please try again shortly.',
      network: 'Could not reach the assistant. Please try again shortly.',
      timeout: 'The assistant did not respond in time. Please try again.',
      generic: 'Something went wrong (error {n}). Please try again.',
      broken: 'The answer was interrupted. Please try again.'
    }
  }[lang];
  var title = attr('title') || S.title;
  var position = attr('position') === 'left' ? 'left' : 'right';

  // DOM helpers (text only: never innerHTML with data)
  function el(tag, cls, text, attrs) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function icon(d) {
    var NS = 'http://www.w3.org/2000/svg', s = document.createElementNS(NS, 'svg'), p = document.createElementNS(NS, 'path');
    s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('aria-hidden', 'true'); s.setAttribute('focusable', 'false');
    p.setAttribute('d', d); s.appendChild(p); return s;
  }

  // build
  var host = el('div', null, null, { id: 'skolassistent-widget' });
  host.style.cssText = 'all: initial !important; display: contents !important;';
  var shadow = host.attachShadow({ mode: 'open' });
  var root = el('div', 'root ' + position, null, { lang: lang });
  root.style.display = 'none'; // shown once our stylesheet has loaded
  var css = el('link', null, null, { rel: 'stylesheet', href: base + '/widget.css' });
  css.onload = css.onerror = () => { root.style.display = ''; };

  var launcher = el('button', 'launcher', null, { type: 'button', 'aria-label': S.open, 'aria-expanded': 'false', 'aria-controls': 'sa-panel', title: title });
  launcher.appendChild(icon('M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z'));

  var panel = el('div', 'panel', null, { id: 'sa-panel', role: 'dialog', 'aria-label': title, 'aria-modal': 'false' });
  panel.hidden = true;
  var header = el('div', 'header');
  var resetBtn = el('button', 'reset', S.reset, { type: 'button' });
  var closeBtn = el('button', 'close', null, { type: 'button', 'aria-label': S.close, title: S.close });
  closeBtn.appendChild(icon('M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z'));
  header.append(el('h2', 'title', title), resetBtn, closeBtn);
  var log = el('div', 'log', null, { role: 'log', 'aria-live': 'polite', 'aria-busy': 'false', tabindex: '0', 'aria-label': title });
  var form = el('form', 'composer');
  var input = el('textarea', 'input', null, { id: 'sa-input', name: 'question', rows: '1', maxlength: '2000', placeholder: S.placeholder, autocomplete: 'off' });
  var sendBtn = el('button', 'send', S.send, { type: 'submit' });
  form.append(el('label', 'sr-only', S.label, { 'for': 'sa-input' }), input, sendBtn);
  panel.append(header, log, form, el('p', 'footer', S.footer));
  root.append(launcher, panel);
  shadow.append(css, root);

  // state
  var convo = load(), busy = false, current = null, seq = 0;
  function load() {
    try {
      var c = JSON.parse(sessionStorage.getItem(KEY) || '[]');
      return Array.isArray(c) ? c.filter(m => m && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string') : [];
    } catch (e) { return []; }
  }
  function save() { try { sessionStorage.setItem(KEY, JSON.stringify(convo)); } catch (e) { /* storage full/blocked */ } }

  // rendering
  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 60; }
  function toBottom() { log.scrollTop = log.scrollHeight; }
  function message(role) {
    var m = el('div', 'message ' + role);
    if (role !== 'error') m.appendChild(el('span', 'sr-only', role === 'user' ? S.you : S.bot));
    log.appendChild(m); return m;
  }
  function addUser(text) { message('user').appendChild(el('div', 'bubble', text)); }
  function addError(text) {
    var m = message('error'); m.setAttribute('role', 'alert');
    m.appendChild(el('div', 'bubble', text)); toBottom();
  }
  function welcome() { log.textContent = ''; log.appendChild(el('p', 'welcome', S.welcome)); }

  function renderAnswer(box, a) {
    var uid = ++seq, refused = !!a.refused, text = String(a.answer == null ? '' : a.answer);
    var byN = {}, cited = [];
    (Array.isArray(a.sources) ? a.sources : []).forEach(s => { if (s && s.n != null) byN[s.n] = s; });
    if (!refused) {
      var list = Array.isArray(a.citations) ? a.citations : (text.match(/\[\d+\]/g) || []).map(x => x.slice(1, -1));
      list.forEach(n => { n = Number(n); if (byN[n] && cited.indexOf(n) < 0) cited.push(n); });
      cited.sort((x, y) => x - y);
    }
    var children = Array.from(box.querySelectorAll(':scope > .sr-only'));
    box.textContent = ''; children.forEach(c => { box.appendChild(c); });
    var bubble = el('div', 'bubble answer' + (refused ? ' refused' : a.outcome === 'hedged' ? ' hedged' : ''));
    var re = /\[(\d+(?:\s*,\s*\d+)*)\]/g, last = 0, m;
    while ((m = re.exec(text))) {
      var nums = m[1].split(/\s*,\s*/).map(Number);
      if (refused || !nums.every(n => cited.indexOf(n) >= 0)) continue;
      bubble.append(text.slice(last, m.index));
      nums.forEach(n => { bubble.appendChild(citeButton(n, uid)); });
      last = re.lastIndex;
    }
    bubble.append(text.slice(last));
    box.appendChild(bubble);
    if (refused) return;
    if (S[a.mode] && (a.mode === 'extractive' || a.mode === 'llm')) box.appendChild(el('p', 'mode-note', S[a.mode]));
    if (!cited.length) return;
    box.appendChild(el('p', 'sources-heading', S.sources));
    var wrap = el('div', 'sources');
    cited.forEach(n => { wrap.appendChild(card(byN[n], uid)); });
    box.appendChild(wrap);
    // Bring each highlighted supporting sentence into view inside its passage.
    requestAnimationFrame(() => { Array.from(wrap.children).forEach(showMark); });
  }

  function citeButton(n, uid) {
    var b = el('button', 'citation', '[' + n + ']', { type: 'button', 'aria-label': S.source + ' ' + n, 'aria-controls': 'sa-src-' + uid + '-' + n, 'data-n': String(n) });
    b.addEventListener('click', () => {
      var c = shadow.getElementById('sa-src-' + uid + '-' + n);
      if (!c) return;
      c.classList.add('active');
      c.scrollIntoView({ block: 'nearest' });
      showMark(c);
      c.focus({ preventScroll: true });
      setTimeout(() => { c.classList.remove('active'); }, 1600);
    });
    return b;
  }
  function showMark(c) {
    var q = c.querySelector('.source-text'), mk = q && q.querySelector('mark');
    if (mk) q.scrollTop = Math.max(0, mk.offsetTop - 8);
  }

  function card(s, uid) {
    var id = s.id == null ? '' : String(s.id);
    var c = el('article', 'source-card', null, { id: 'sa-src-' + uid + '-' + s.n, 'data-source-id': id, 'data-n': String(s.n), tabindex: '-1' });
    var head = el('div', 'source-head');
    head.append(el('span', 'source-n', String(s.n), { 'aria-hidden': 'true' }), el('span', 'source-title', s.title ? String(s.title) : id));
    head.insertBefore(el('span', 'sr-only', S.source + ' ' + s.n + ': '), head.firstChild);
    c.appendChild(head);
    var meta = [s.municipality, s.date].filter(x => x).map(String).join(' · ');
    if (meta) c.appendChild(el('p', 'source-meta', meta));
    if (s.text) {
      // Focusable and named: the passage scrolls, and a scrollable region a keyboard cannot
      // reach fails WCAG 2.1.1 (axe: scrollable-region-focusable).
      var q = el('blockquote', 'source-text', null, { tabindex: '0', 'aria-label': S.excerpt + ' ' + s.n }), chars = Array.from(String(s.text)), h = s.highlight;
      if (Array.isArray(h) && h.length === 2 && h[0] >= 0 && h[0] < h[1] && h[1] <= chars.length) {
        q.append(chars.slice(0, h[0]).join(''), el('mark', null, chars.slice(h[0], h[1]).join('')), chars.slice(h[1]).join(''));
      } else q.textContent = chars.join('');
      c.appendChild(q);
    }
    var href = typeof s.url === 'string' && /^https?:\/\//i.test(s.url) ? s.url : (id ? base + '/api/sources/' + encodeURIComponent(id) : '');
    if (href) c.appendChild(el('a', 'source-link', S.openSource, { href: href, target: '_blank', rel: 'noopener noreferrer', title: S.newTab }));
    return c;
  }

  function restore() {
    welcome();
    convo.forEach(m => {
      if (m.role === 'user') addUser(m.content);
      else renderAnswer(message('assistant'), { answer: m.content, sources: m.sources, citations: m.citations, refused: m.refused, mode: m.mode, outcome: m.outcome });
    });
  }

  // open / close
  function open() {
    panel.hidden = false; root.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    toBottom(); input.focus();
  }
  function close() {
    panel.hidden = true; root.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
  }

  // errors
  function errorText(status, msg, retry) {
    msg = msg ? String(msg) : '';
    if (status === 403) return S.forbidden + (msg && msg !== S.forbidden ? ' ' + msg : '');
    if (status === 401) return S.unauthorized;
    if (status === 429) {
      var n = parseInt(retry, 10);
      if (isNaN(n) && retry && !isNaN(Date.parse(retry))) n = Math.ceil((Date.parse(retry) - Date.now()) / 1000);
      return n > 0 ? S.rateN.replace('{n}', n) : S.rate;
    }
    return msg || S.generic.replace('{n}', status || '?');
  }

  function setBusy(b, m) {
    busy = b; sendBtn.disabled = b;
    log.setAttribute('aria-busy', b ? 'true' : 'false');
    if (m) m.setAttribute('aria-busy', b ? 'true' : 'false');
  }

  // SSE
  function parseEvent(block) {
    var ev = 'message', data = [];
    block.split('\n').forEach(line => {
      if (!line || line.charAt(0) === ':') return;
      var i = line.indexOf(':'), f = i < 0 ? line : line.slice(0, i), v = i < 0 ? '' : line.slice(i + 1);
      if (v.charAt(0) === ' ') v = v.slice(1);
      if (f === 'event') ev = v; else if (f === 'data') data.push(v);
    });
    if (!data.length) return null;
    var d; try { d = JSON.parse(data.join('\n')); } catch (e) { d = { text: data.join('\n') }; }
    return { event: ev, data: d || {} };
  }

  // send
  function send(q) {
    q = (q || '').trim();
    if (busy || !q) return;
    var history = convo.slice(-MAX_HISTORY).map(m => { return { role: m.role, content: m.content }; });
    addUser(q); toBottom();
    input.value = ''; grow();
    var m = message('assistant'), bubble = el('div', 'bubble answer streaming'), streamed = '';
    var typing = el('span', 'typing', null, { 'aria-busy': 'true' });
    typing.append(el('span', 'sr-only', S.typing), el('i'), el('i'), el('i'));
    bubble.appendChild(typing); m.appendChild(bubble); toBottom();
    setBusy(true, m);

    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var st = { ctrl: ctrl, cancelled: false, timedOut: false, timer: 0 };
    current = st;
    function kick() {
      clearTimeout(st.timer);
      st.timer = setTimeout(() => { st.timedOut = true; if (ctrl) ctrl.abort(); }, IDLE_TIMEOUT);
    }
    var finished = false, sources = null;
    function finish() { finished = true; clearTimeout(st.timer); if (current === st) current = null; setBusy(false, m); }
    function fail(text) { if (m.parentNode) m.parentNode.removeChild(m); addError(text); }
    function done(a) {
      a = a || {};
      if (!Array.isArray(a.sources) && sources) a.sources = sources;
      renderAnswer(m, a);
      var cited = Array.prototype.map.call(m.querySelectorAll('.source-card'), c => Number(c.getAttribute('data-n')));
      var keep = (a.sources || []).filter(s => s && cited.indexOf(Number(s.n)) >= 0);
      convo.push({ role: 'user', content: q });
      convo.push({ role: 'assistant', content: String(a.answer == null ? '' : a.answer), sources: keep, citations: cited, refused: !!a.refused, mode: a.mode, outcome: a.outcome });
      save();
      var top = m.offsetTop - 8;
      if (log.scrollTop + log.clientHeight < m.offsetTop + m.offsetHeight || log.scrollTop > top) log.scrollTop = Math.max(0, top);
    }
    function handle(e) {
      if (!e || finished) return;
      var d = e.data;
      if (e.event === 'sources') sources = Array.isArray(d.sources) ? d.sources : sources;
      else if (e.event === 'token') {
        if (typing.parentNode) bubble.removeChild(typing);
        var stick = nearBottom();
        streamed += d.text == null ? '' : String(d.text);
        bubble.textContent = streamed;
        if (stick) toBottom();
      } else if (e.event === 'done') { finish(); done(d); }
      else if (e.event === 'error') { finish(); fail(errorText(Number(d.status) || 0, d.error)); }
    }

    var answered = false;
    kick();
    var headers = { 'Content-Type': 'application/json', 'Accept': 'text/event-stream' };
    if (widgetKey) headers['X-Widget-Key'] = widgetKey;
    // same-origin: on the assistant's own pages the session cookie goes along; to any
    // other origin no cookie is ever sent.
    fetch(base + '/api/chat', {
      method: 'POST', mode: 'cors', credentials: 'same-origin', signal: ctrl ? ctrl.signal : undefined,
      headers: headers,
      body: JSON.stringify({ question: q, history: history, stream: true })
    }).then((res) => {
      answered = true;
      kick();
      if (!res.ok) {
        return res.text().then(t => {
          var j = {}; try { j = JSON.parse(t); } catch (e) { /* not JSON */ }
          finish();
          fail(errorText(res.status, j && (j.error || j.detail && typeof j.detail === 'string' && j.detail), res.headers.get('Retry-After') || (j && j.retry_after)));
        });
      }
      var ct = res.headers.get('Content-Type') || '';
      if (ct.indexOf('application/json') >= 0 || !res.body || !res.body.getReader) {
        return res.json().then(a => { if (!finished) { finish(); done(a); } });
      }
      var reader = res.body.getReader(), dec = new TextDecoder('utf-8'), buf = '';
      function feed(chunk, final) {
        buf += chunk;
        var tail = '';
        if (!final && buf.charAt(buf.length - 1) === '\r') { tail = '\r'; buf = buf.slice(0, -1); }
        buf = buf.replace(/\r\n?/g, '\n');
        var i;
        while (!finished && (i = buf.indexOf('\n\n')) >= 0) { handle(parseEvent(buf.slice(0, i))); buf = buf.slice(i + 2); }
        if (final && buf.trim()) { handle(parseEvent(buf)); buf = ''; }
        buf += tail;
      }
      function pump() {
        return reader.read().then(r => {
          if (finished) { reader.cancel().catch(() => {}); return; }
          kick();
          if (r.done) {
            feed(dec.decode(), true);
            if (!finished) { finish(); fail(S.broken); }
            return;
          }
          feed(dec.decode(r.value, { stream: true }), false);
          return pump();
        });
      }
      return pump();
    }).catch((err) => {
      if (finished) return;
      if (st.cancelled || st.timedOut || answered || (err && err.name === 'AbortError')) {
        finish();
        if (!st.cancelled) fail(st.timedOut ? S.timeout : S.broken);
        return;
      }
      // A refused origin (no CORS permission) and an unreachable server look the same to
      // fetch. An opaque no-cors probe needs no permission, so it tells them apart.
      function verdict(text) { if (!finished && !st.cancelled) { finish(); fail(text); } }
      setTimeout(() => { verdict(S.network); }, 8000);
      fetch(base + '/healthz', { mode: 'no-cors', credentials: 'omit', cache: 'no-store' })
        .then(() => { verdict(S.forbidden); }, () => { verdict(S.network); });
    });
  }

  function reset() {
    if (current) { current.cancelled = true; if (current.ctrl) current.ctrl.abort(); current = null; }
    setBusy(false);
    convo = [];
    try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    welcome(); input.value = ''; grow(); input.focus();
  }

  function grow() { input.style.height = 'auto'; input.style.height = Math.min(input.scrollHeight + 2, 140) + 'px'; }

  // events
  launcher.addEventListener('click', () => { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener('click', () => { close(); launcher.focus(); });
  resetBtn.addEventListener('click', reset);
  form.addEventListener('submit', e => { e.preventDefault(); send(input.value); });
  input.addEventListener('input', grow);
  input.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); send(input.value); }
  });
  root.addEventListener('keydown', e => {
    if ((e.key === 'Escape' || e.key === 'Esc') && !panel.hidden) { e.preventDefault(); e.stopPropagation(); close(); launcher.focus(); }
  });

  restore();
  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  window.SkolAssistent = { open: open, close: close, version: VERSION };
})();
