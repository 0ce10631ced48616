/*
 * valk-aio dashboard: the few DOM helpers every panel uses: lookups by id,
 * HTML escaping, a card's rows. Browser only; runs on the page's only thread.
 */

export function $(id) {
  return document.getElementById(id);
}

export function esc(s) {
  return String(s).replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
  });
}

/** One "label: value" row of a card; cls is a color class (grn/red/ylw/blu). */
export function row(label, value, cls) {
  return '<div class="row"><span class="k">' + esc(label) + '</span><span class="v ' + (cls || '') + '">' + esc(value) + '</span></div>';
}

export function card(title, rows) {
  return '<div class="sub-card"><h3>' + esc(title) + '</h3>' + rows.join('') + '</div>';
}

/** Sets an element's text, touching the DOM only when it changes. */
export function setText(id, text) {
  var el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
}

/** A number, or 0 for anything else (a field an older server does not send). */
export function num(x) {
  return typeof x === 'number' ? x : 0;
}

/** A string safe inside a CSS attribute selector's quotes. */
export function cssEscape(s) {
  return String(s).replace(/["\\]/g, '\\$&');
}
