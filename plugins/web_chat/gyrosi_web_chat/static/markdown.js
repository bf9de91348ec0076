// A small Markdown renderer that is safe by construction: it builds DOM nodes and puts model
// text in them with textContent only (never innerHTML), and only http(s)/mailto links get an
// href. So `<script>` or `<img onerror>` in an answer is shown as the text it is.
//
// Blocks: fenced code (with a copy button), headings, paragraphs, lists, block quotes, rules.
// Inline: code spans, links and bare URLs, bold, italic. An unclosed fence (a streaming
// answer) renders as code so far.

import { el } from './dom.js';

const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s*>\s?/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

const INLINE = new RegExp([
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.source,        // 1,2 code span
  /\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)/.source,  // 3,4 link
  /(\*\*|__)(?=\S)([\s\S]*?\S)\5/.source,             // 5,6 bold
  /(?<![\w*])(\*|_)(?=[^\s*_])([\s\S]*?[^\s*_])\7(?![\w*])/.source,  // 7,8 italic
  /(https?:\/\/[^\s<>()[\]]*[^\s<>()[\].,;:!?'"])/.source,  // 9 bare URL
].join('|'), 'g');

// An anchor for `url` when it is http(s) or mailto, else null (javascript:, data:, relative).
export function safeLink(url, text) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (!['http:', 'https:', 'mailto:'].includes(parsed.protocol)) return null;
  const a = el('a', '', text ?? url);
  a.href = parsed.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  return a;
}

export function renderInline(text, parent) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) appendText(parent, text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] !== undefined) {
      parent.append(el('code', '', m[2].replace(/^ (.*) $/s, '$1')));
    } else if (m[3] !== undefined) {
      const a = safeLink(m[4], '');
      if (a) {
        renderInline(m[3], a);
        parent.append(a);
      } else {
        appendText(parent, m[0]);
      }
    } else if (m[6] !== undefined) {
      const b = el('strong');
      renderInline(m[6], b);
      parent.append(b);
    } else if (m[8] !== undefined) {
      const i = el('em');
      renderInline(m[8], i);
      parent.append(i);
    } else if (m[9] !== undefined) {
      parent.append(safeLink(m[9]) ?? document.createTextNode(m[9]));
    }
  }
  if (last < text.length) appendText(parent, text.slice(last));
}

// Text with its line breaks kept (a chat answer's single newlines are meant).
function appendText(parent, text) {
  const lines = text.split('\n');
  lines.forEach((line, n) => {
    if (n) parent.append(el('br'));
    if (line) parent.append(document.createTextNode(line));
  });
}

function codeBlock(code, lang) {
  const box = el('div', 'code');
  const head = el('div', 'code-head');
  head.append(el('span', 'lang', lang || 'code'));
  const copy = el('button', 'copy', 'Copy');
  copy.type = 'button';
  copy.addEventListener('click', () => copyText(code, copy));
  head.append(copy);
  const pre = el('pre');
  pre.append(el('code', '', code));
  box.append(head, pre);
  return box;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {  // no clipboard permission: select a hidden copy and use the old command
    const area = el('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line);
}

function renderBlocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i++;
    } else if ((m = FENCE.exec(line))) {
      const close = new RegExp(`^\\s*${m[1][0]}{${m[1].length},}\\s*$`);
      const body = [];
      for (i++; i < lines.length && !close.test(lines[i]); i++) body.push(lines[i]);
      i++;  // the closing fence (or past the end: a fence still streaming)
      parent.append(codeBlock(body.join('\n'), m[2]));
    } else if ((m = HEADING.exec(line))) {
      const h = el(`h${m[1].length}`);
      renderInline(m[2], h);
      parent.append(h);
      i++;
    } else if (RULE.test(line)) {
      parent.append(el('hr'));
      i++;
    } else if (QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i++) body.push(lines[i].replace(QUOTE, ''));
      const q = el('blockquote');
      renderBlocks(body, q);
      parent.append(q);
    } else if ((m = ITEM.exec(line))) {
      const ordered = /\d/.test(m[2]);
      const list = el(ordered ? 'ol' : 'ul');
      if (ordered && parseInt(m[2], 10) !== 1) list.start = parseInt(m[2], 10);
      let item = null;
      for (; i < lines.length; i++) {
        const im = ITEM.exec(lines[i]);
        if (im && /\d/.test(im[2]) === ordered && im[1].length < 4) {
          item = el('li');
          renderInline(im[3], item);
          list.append(item);
        } else if (lines[i].trim() && !startsBlock(lines[i]) && item) {
          item.append(el('br'));  // a continuation line of the item
          renderInline(lines[i].trim(), item);
        } else if (im && item) {  // a nested or other-kind item: shown as its own item
          item = el('li');
          renderInline(im[3], item);
          list.append(item);
        } else {
          break;
        }
      }
      parent.append(list);
    } else {
      const body = [];
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines[i]); i++) {
        body.push(lines[i]);
      }
      const p = el('p');
      renderInline(body.join('\n'), p);
      parent.append(p);
    }
  }
}

// Replace `container`'s children with `text` rendered.
export function renderMarkdown(text, container) {
  const fragment = document.createDocumentFragment();
  renderBlocks(text.replace(/\r\n?/g, '\n').split('\n'), fragment);
  container.replaceChildren(fragment);
}
