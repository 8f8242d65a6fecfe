// DOM building without HTML strings: every text goes through textContent
// (or createTextNode), every attribute through setAttribute or a property.
// Nothing here parses markup, so a stored payload such as "<script>" can
// only ever show as text.

/**
 * Creates an element.
 * @param {string} tag
 * @param {object} [attrs] class, text, title, href, on{Event} handlers,
 *   dataset entries (data-*), and other attributes set with setAttribute.
 * @param {...(Node|string|number|null|undefined|Array)} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = !!value;
    else if (key === 'disabled') el.disabled = !!value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, or strings as text nodes; arrays flattened). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The SVG namespace element factory (charts). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'text') el.textContent = String(value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A link inside the console (hash routes). */
export function link(route, text, attrs = {}) {
  return h('a', { href: '#' + route, ...attrs }, text);
}

/** A time as the console shows it: local, to the second, with the ISO form as title. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', { text: String(iso) });
  return h('time', { datetime: iso, title: iso, text: formatTime(d) });
}

/** `2026-11-29 20:14:43` in local time. */
export function formatTime(d) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A message box for errors (problem details shown by their title and detail). */
export function errorBox(err) {
  const title = err && err.title ? err.title : 'Error';
  const detail = err && (err.detail || err.message) ? (err.detail || err.message) : String(err);
  return h('div', { class: 'error', role: 'alert' },
    h('strong', { text: title }), ' ', h('span', { text: detail }));
}

/**
 * Pretty-prints a JSON value as a tree of spans.
 * @param {*} value
 * @param {object} [opts] changed: Map of path -> previous value (the paths
 *   whose value differs from the previous version, highlighted), path: the
 *   path of `value` itself.
 */
export function jsonTree(value, opts = {}) {
  const changed = opts.changed || new Map();
  const root = h('div', { class: 'json' });
  root.appendChild(renderValue(value, opts.path || '$', changed, 0));
  return root;
}

function renderValue(value, path, changed, depth) {
  const mark = (el) => {
    el.dataset.path = path;
    if (changed.has(path)) {
      el.classList.add('changed');
      const before = changed.get(path);
      el.title = before === undefined ? 'new' : 'was: ' + JSON.stringify(before);
    }
    return el;
  };
  if (value === null) return mark(h('span', { class: 'j-null', text: 'null' }));
  if (Array.isArray(value)) {
    if (value.length === 0) return mark(h('span', { class: 'j-punct', text: '[]' }));
    const list = h('div', { class: 'j-block' });
    value.forEach((item, i) => {
      const itemPath = `${path}[${i}]`;
      list.appendChild(h('div', { class: 'j-entry' },
        renderValue(item, itemPath, changed, depth + 1),
        i < value.length - 1 ? h('span', { class: 'j-punct', text: ',' }) : null));
    });
    return mark(h('span', {}, h('span', { class: 'j-punct', text: '[' }), list,
      h('span', { class: 'j-punct', text: ']' })));
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return mark(h('span', { class: 'j-punct', text: '{}' }));
    const list = h('div', { class: 'j-block' });
    keys.forEach((key, i) => {
      const keyPath = `${path}.${key}`;
      list.appendChild(h('div', { class: 'j-entry' + (changed.has(keyPath) ? ' changed-entry' : '') },
        h('span', { class: 'j-key', text: JSON.stringify(key) }),
        h('span', { class: 'j-punct', text: ': ' }),
        renderValue(value[key], keyPath, changed, depth + 1),
        i < keys.length - 1 ? h('span', { class: 'j-punct', text: ',' }) : null,
        changed.has(keyPath) ? previous(changed.get(keyPath)) : null));
    });
    return mark(h('span', {}, h('span', { class: 'j-punct', text: '{' }), list,
      h('span', { class: 'j-punct', text: '}' })));
  }
  if (typeof value === 'string') return mark(h('span', { class: 'j-string', text: JSON.stringify(value) }));
  if (typeof value === 'number') return mark(h('span', { class: 'j-number', text: String(value) }));
  if (typeof value === 'boolean') return mark(h('span', { class: 'j-bool', text: String(value) }));
  return mark(h('span', { text: String(value) }));
}

function previous(before) {
  return h('span', { class: 'j-was', text: before === undefined ? ' (new)' : ' (was ' + JSON.stringify(before) + ')' });
}

/**
 * The paths whose value differs between two JSON values, each with its
 * value in `before` (undefined when the path is new). Objects and arrays are
 * compared member by member; a changed leaf marks its path.
 * @returns {Map<string, *>}
 */
export function diffPaths(before, after, path = '$', out = new Map()) {
  const isObj = (v) => v !== null && typeof v === 'object';
  if (isObj(before) && isObj(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) {
      const child = Array.isArray(after) ? `${path}[${key}]` : `${path}.${key}`;
      if (!(key in after)) continue; // removed: nothing to highlight in `after`
      if (!(key in before)) out.set(child, undefined);
      else diffPaths(before[key], after[key], child, out);
    }
    return out;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out.set(path, before);
  return out;
}
