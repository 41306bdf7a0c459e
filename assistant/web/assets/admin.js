/* Skolassistenten – the admin page (/admin). Sign in with an admin key (the server sets
 * its own HttpOnly cookie and gives a CSRF token, kept only in this page's memory and sent
 * in X-CSRF-Token with every change), list the documents, upload, delete, follow the
 * ingest job. Everything from the server is put in the page as text, never as markup. */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const api = (path) => 'api/admin/' + path;
  let csrf = null;
  let documents = [];

  async function call(method, path, body, isForm) {
    const headers = { Accept: 'application/json' };
    if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
    if (body !== undefined && !isForm) headers['Content-Type'] = 'application/json';
    const response = await fetch(api(path), {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : (isForm ? body : JSON.stringify(body)),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const message = (data && data.error) || ('Servern svarade ' + response.status + '.');
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function text(tag, value, className) {
    const node = document.createElement(tag);
    node.textContent = value == null ? '' : String(value);
    if (className) node.className = className;
    return node;
  }

  function say(message) {
    const box = $('messages');
    box.replaceChildren(text('p', message));
  }

  function showErrors(errors) {
    const list = $('errors');
    list.replaceChildren(...errors.map((e) => text('li', (e.file ? e.file + ': ' : '') + e.error)));
  }

  function signedIn(keyId, token) {
    csrf = token;
    $('who').textContent = keyId;
    $('signin').hidden = true;
    $('editor').hidden = false;
    refresh();
  }

  async function tryResume() {
    try {
      const session = await call('GET', 'session');
      if (session.csrf) signedIn(session.key_id, session.csrf);
    } catch (e) { /* not signed in: the form stays */ }
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('key');
    $('signin-error').textContent = '';
    if (!key.value.trim()) {
      $('signin-error').textContent = 'Skriv administratörsnyckeln.';
      key.focus();
      return;
    }
    try {
      const result = await call('POST', 'session', { key: key.value.trim() });
      key.value = '';
      signedIn(result.key_id, result.csrf);
      $('files').focus();
    } catch (e) {
      $('signin-error').textContent = e.message;
      key.focus();
    }
  });

  $('signout').addEventListener('click', async () => {
    try { await call('DELETE', 'session'); } catch (e) { /* gone already */ }
    csrf = null;
    $('editor').hidden = true;
    $('signin').hidden = false;
    $('key').focus();
  });

  function formatSize(bytes) {
    if (bytes == null) return '–';
    return bytes < 1024 ? bytes + ' B' : (bytes / 1024).toFixed(1).replace('.', ',') + ' kB';
  }

  const STATUS = { indexed: 'Indexerad', pending: 'Väntar', failed: 'Fel', removed: 'Borttagen' };

  function row(doc) {
    const tr = document.createElement('tr');
    const titleCell = document.createElement('td');
    titleCell.append(text('span', doc.title));
    tr.append(titleCell, text('td', doc.municipality || '–'), text('td', doc.date || '–'),
      text('td', doc.passages), text('td', formatSize(doc.size)),
      text('td', doc.indexed_at ? doc.indexed_at.replace('T', ' ').replace('+00:00', ' UTC') : '–'));
    const status = text('td', STATUS[doc.status] || doc.status, 'status-' + doc.status);
    if (doc.last_error) status.append(text('div', doc.last_error, 'error'));
    tr.append(status);
    const actions = document.createElement('td');
    const wrap = document.createElement('div');
    wrap.className = 'actions';
    const source = document.createElement('a');
    source.href = doc.url && /^https?:\/\//i.test(doc.url) ? doc.url
      : 'api/sources/' + doc.id.split('/').map(encodeURIComponent).join('/');
    source.textContent = 'Källan';
    source.setAttribute('aria-label', 'Källan: ' + doc.title);
    source.rel = 'noopener noreferrer';
    const ask = document.createElement('a');
    ask.href = './?fraga=' + encodeURIComponent('Vad står det i artikeln "' + doc.title + '"?');
    ask.textContent = 'Fråga om artikeln';
    ask.setAttribute('aria-label', 'Fråga om artikeln: ' + doc.title);
    const remove = text('button', 'Ta bort', 'link');
    remove.type = 'button';
    remove.setAttribute('aria-label', 'Ta bort: ' + doc.title);
    remove.addEventListener('click', () => confirmDelete(doc, remove));
    wrap.append(source, ask, remove);
    actions.append(wrap);
    tr.append(actions);
    return tr;
  }

  function render() {
    const query = $('search').value.trim().toLowerCase();
    const municipality = $('filter-municipality').value;
    const shown = documents.filter((d) =>
      (!municipality || d.municipality === municipality) &&
      (!query || [d.title, d.id, d.municipality || ''].some((v) => String(v).toLowerCase().includes(query))));
    $('docs').tBodies[0].replaceChildren(...shown.map(row));
    $('docs-caption').textContent = 'Dokumenten i kunskapsbanken: ' + shown.length + ' av ' + documents.length;
  }

  function fillMunicipalities() {
    const select = $('filter-municipality');
    const chosen = select.value;
    const names = [...new Set(documents.map((d) => d.municipality).filter(Boolean))].sort();
    const options = [text('option', 'Alla kommuner')];
    options[0].value = '';
    for (const name of names) {
      const option = text('option', name);
      option.value = name;
      options.push(option);
    }
    select.replaceChildren(...options);
    select.value = names.includes(chosen) ? chosen : '';
  }

  async function refresh() {
    try {
      documents = (await call('GET', 'documents')).documents;
      fillMunicipalities();
      render();
      const entries = (await call('GET', 'audit?limit=20')).entries;
      const action = { upload: 'Uppladdning', replace: 'Ersatt', metadata: 'Metadata', delete: 'Borttagning', reindex: 'Omindexering' };
      const outcome = { ok: 'Klart', unchanged: 'Oförändrat', failed: 'Misslyckades' };
      $('audit').tBodies[0].replaceChildren(...entries.map((e) => {
        const tr = document.createElement('tr');
        tr.append(text('td', e.time), text('td', e.key_id), text('td', action[e.action] || e.action),
          text('td', e.doc_id || '–'), text('td', outcome[e.outcome] || e.outcome));
        return tr;
      }));
    } catch (e) {
      if (e.status === 401) { $('editor').hidden = true; $('signin').hidden = false; }
      showErrors([{ file: '', error: e.message }]);
    }
  }

  async function follow(job) {
    const box = $('job');
    box.hidden = false;
    const bar = $('progress');
    for (;;) {
      bar.max = Math.max(1, job.total);
      bar.value = job.done;
      $('progress-text').textContent = job.state === 'queued' ? 'I kö…'
        : (job.done + ' av ' + job.total + ' dokument' + (job.current ? ' (' + job.current + ')' : ''));
      if (job.state === 'done' || job.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 300));
      job = await call('GET', 'jobs/' + encodeURIComponent(job.id));
    }
    box.hidden = true;
    if (job.errors.length) showErrors(job.errors);
    say(job.state === 'done' ? 'Klart: ändringen är indexerad och chatten svarar från den.'
      : 'Jobbet misslyckades: se felen nedan.');
    await refresh();
  }

  $('upload-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showErrors([]);
    const files = $('files').files;
    if (!files.length) {
      showErrors([{ file: '', error: 'Välj minst en fil.' }]);
      $('files').focus();
      return;
    }
    const form = new FormData();
    for (const file of files) form.append('files', file, file.name);
    for (const name of ['title', 'municipality', 'date', 'url']) {
      const value = $(name).value.trim();
      if (value) form.append(name, value);
    }
    try {
      const result = await call('POST', 'documents', form, true);
      const notes = (result.unchanged || []).map((u) => u.file + ': ' + u.message);
      if (notes.length) say(notes.join(' '));
      showErrors(result.rejected || []);
      $('upload-form').reset();
      if (result.job) await follow(result.job);
    } catch (e) {
      showErrors([{ file: '', error: e.message }]);
    }
  });

  function confirmDelete(doc, opener) {
    const dialog = $('confirm');
    $('confirm-text').textContent = '”' + doc.title + '” tas bort ur kunskapsbanken och slutar citeras i chatten.';
    const done = () => { dialog.close(); opener.focus(); };
    $('confirm-no').onclick = done;
    $('confirm-yes').onclick = async () => {
      dialog.close();
      try {
        const result = await call('DELETE', 'documents/' + doc.id.split('/').map(encodeURIComponent).join('/'));
        await follow(result.job);
      } catch (e) {
        showErrors([{ file: doc.id, error: e.message }]);
      }
      $('search').focus();
    };
    dialog.showModal();
    $('confirm-no').focus();
  }

  $('search').addEventListener('input', render);
  $('filter-municipality').addEventListener('change', render);

  // What the ingest itself reads from a chosen file (title, date) fills the empty fields;
  // what the editor typed is never overwritten.
  async function prefill() {
    const files = $('files').files;
    if (files.length !== 1) return;
    const form = new FormData();
    form.append('file', files[0], files[0].name);
    try {
      const found = await call('POST', 'analyse', form, true);
      for (const name of ['title', 'municipality', 'date']) {
        if (found[name] && !$(name).value.trim()) $(name).value = found[name];
      }
    } catch (e) {
      showErrors([{ file: files[0].name, error: e.message }]);
    }
  }
  $('files').addEventListener('change', prefill);

  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer && ev.dataTransfer.files.length) {
      $('files').files = ev.dataTransfer.files;
      prefill();
    }
  });

  tryResume();
})();
