() => {
  /* Skolassistenten chat UI: citation links [n] in the chat jump to their source card.
   * Gradio may open Markdown links in a new tab; we intercept in the capture phase. */
  if (window.__saCitations) return;
  window.__saCitations = true;
  const root = () => document.querySelector('gradio-app') || document;
  function find(id) {
    const r = root();
    return (r.querySelector && r.querySelector('#' + CSS.escape(id))) ||
      (r.shadowRoot && r.shadowRoot.getElementById(id)) || document.getElementById(id);
  }
  document.addEventListener('click', (ev) => {
    const path = ev.composedPath ? ev.composedPath() : [ev.target];
    const a = path.find((n) => n && n.tagName === 'A' && /^#kalla-\d+-\d+$/.test(n.getAttribute('href') || ''));
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    const card = find(a.getAttribute('href').slice(1));
    if (!card) return;
    const details = card.closest('details');
    if (details) details.open = true;
    card.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    card.classList.add('sa-flash');
    card.focus({ preventScroll: true });
    showMark(card);
    setTimeout(() => card.classList.remove('sa-flash'), 1800);
  }, true);

  // Scroll each passage so its highlighted supporting sentence is in view.
  function showMark(card) {
    const mark = card.querySelector('mark');
    const passage = card.querySelector('.sa-passage');
    if (mark && passage) passage.scrollTop = Math.max(0, mark.offsetTop - 8);
  }
  // Gradio 6 renders the chatbot's example questions as role="list" holding buttons that
  // are not list items (axe: aria-required-children, critical) and names each button
  // "Select example N: …" in English, with no option to change either. A group with a
  // Swedish name and Swedish button names instead; set only when different, so watching
  // the attributes cannot loop.
  function fixExamples() {
    document.querySelectorAll('#chat .examples').forEach((list) => {
      if (list.getAttribute('role') !== 'group') list.setAttribute('role', 'group');
      if (list.getAttribute('aria-label') !== 'Exempelfrågor') list.setAttribute('aria-label', 'Exempelfrågor');
      list.querySelectorAll('button.example').forEach((button, i) => {
        const label = 'Exempelfråga ' + (i + 1) + ': ' + (button.textContent || '').trim();
        if (button.getAttribute('aria-label') !== label) button.setAttribute('aria-label', label);
      });
    });
  }
  new MutationObserver(() => {
    document.querySelectorAll('.sa-card:not([data-sa-shown])').forEach((card) => {
      card.setAttribute('data-sa-shown', '');
      showMark(card);
    });
    fixExamples();
  }).observe(document.body, { childList: true, subtree: true, attributes: true,
                              attributeFilter: ['role', 'aria-label'] });
  fixExamples();
  // "Fråga om artikeln" on the admin page links here with ?fraga=…: the question is put
  // in the box (not sent), so the editor sees it and sends it with Enter.
  const asked = new URLSearchParams(window.location.search).get('fraga');
  if (asked) {
    let tries = 0;
    const fill = () => {
      const box = find('question');
      const input = box && box.querySelector('textarea');
      if (!input) { if (tries++ < 100) setTimeout(fill, 100); return; }
      input.value = asked.slice(0, 2000);
      input.dispatchEvent(new Event('input', { bubbles: true }));
      input.focus();
    };
    fill();
  }
}
