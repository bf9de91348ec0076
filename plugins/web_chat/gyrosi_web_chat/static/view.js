// One assistant turn on the page, built from Responses API events while it streams, or from a
// stored response object when a conversation is reopened. Every model-written string goes in
// with textContent (or through the safe Markdown renderer).

import { el } from './dom.js';
import { renderMarkdown, safeLink } from './markdown.js';

function textOf(parts) {
  return (parts || []).map((p) => p.text || '').join('');
}

// A collapsible block: the analysis channel, or a tool call with its arguments and output.
function block(kind, title, open) {
  const details = el('details', `block ${kind}`);
  details.open = open;
  const summary = el('summary', '', title);
  details.append(summary);
  return { details, summary };
}

class Thinking {
  constructor(parent) {
    const { details, summary } = block('thinking', 'Thinking…', true);
    this.details = details;
    this.summary = summary;
    this.body = el('div', 'body');
    details.append(this.body);
    parent.append(details);
  }

  append(text) { this.body.textContent += text; }

  done(item) {
    const text = textOf(item.content) || textOf(item.summary);
    if (text) this.body.textContent = text;
    this.summary.textContent = 'Thought';
    this.details.open = false;  // collapses once the answer starts; a click reopens it
  }
}

class Answer {
  constructor(parent, render) {
    this.node = el('div', 'answer');
    this.sources = el('div', 'citations');
    this.sources.hidden = true;
    this.text = '';
    this.notes = [];  // citations: url_citation (a link) or file_citation (a learned document)
    this.render = render;
    parent.append(this.node, this.sources);
  }

  append(text) {
    this.text += text;
    this.render(this);
  }

  draw() { renderMarkdown(this.text, this.node); }

  annotate(note) {
    this.notes.push(note);
    this.drawSources();
  }

  drawSources() {
    const list = el('ol');
    const seen = new Set();
    for (const note of this.notes) {
      const target = note.url || note.file_id || '';
      const name = note.title || note.filename || target;
      if (!target || seen.has(target)) continue;
      seen.add(target);
      const li = el('li');
      const link = safeLink(target, name);
      if (link) li.append(link);
      else {
        const span = el('span', 'source', name);
        span.title = target;  // a document's name in the backend's memory: shown, not linked
        li.append(span);
      }
      list.append(li);
    }
    this.sources.replaceChildren(el('span', 'label', 'Sources'), list);
    this.sources.hidden = !seen.size;
  }

  done(item) {
    const parts = item.content || [];
    this.text = textOf(parts) || this.text;
    this.draw();
    const notes = parts.flatMap((p) => p.annotations || []);
    if (notes.length) this.notes = notes;
    this.drawSources();
  }
}

class ToolCall {
  constructor(parent, item) {
    const names = {
      function_call: `Tool call: ${item.name || 'function'}`,
      web_search_call: 'Web search',
      code_interpreter_call: 'Code interpreter',
    };
    const { details, summary } = block(`tool ${item.type}`, names[item.type] || item.type, true);
    this.details = details;
    this.summary = summary;
    this.title = summary.textContent;
    this.item = item;
    this.state = el('span', 'state', 'running');
    summary.append(' ', this.state);
    this.args = el('pre', 'args');
    this.output = el('pre', 'output');
    this.output.hidden = true;
    details.append(this.args, this.output);
    parent.append(details);
    if (item.type === 'code_interpreter_call' && item.code) this.args.textContent = item.code;
    if (item.type === 'web_search_call') this.action(item.action);
  }

  append(text) { this.args.textContent += text; }

  action(action) {
    if (!action) return;
    this.args.replaceChildren();
    const what = { search: 'search', open_page: 'open', find: 'find' }[action.type] || action.type;
    this.args.append(`${what}: `);
    if (action.query) this.args.append(action.query);
    if (action.pattern) this.args.append(`"${action.pattern}" in `);
    if (action.url) this.args.append(safeLink(action.url) ?? document.createTextNode(action.url));
  }

  setOutput(text) {
    this.output.textContent = text;
    this.output.hidden = false;
    this.state.textContent = 'done';
  }

  done(item) {
    this.item = item;
    if (item.type === 'function_call') {
      this.args.textContent = prettyJSON(item.arguments);
      this.state.textContent = 'called';
    } else if (item.type === 'web_search_call') {
      this.action(item.action);
      this.state.textContent = 'done';
    } else if (item.type === 'code_interpreter_call') {
      if (item.code) this.args.textContent = item.code;
      const logs = (item.outputs || []).map((o) => o.logs || o.url || '').join('\n');
      if (logs) this.setOutput(logs);
      this.state.textContent = 'done';
    }
  }
}

function prettyJSON(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export class ResponseView {
  constructor(parent) {
    this.node = el('div', 'turn assistant');
    this.items = new Map();  // output_index -> block
    this.calls = new Map();  // call_id -> ToolCall
    this.status = el('div', 'status', '');
    this.node.append(this.status);
    this.id = null;
    this.state = 'streaming';
    this.node.dataset.state = this.state;
    this.pending = new Set();
    this.frame = 0;
    parent.append(this.node);
  }

  // Redraw answers at most once per frame however fast deltas come.
  scheduleDraw(answer) {
    this.pending.add(answer);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const a of this.pending) a.draw();
      this.pending.clear();
      this.node.dispatchEvent(new CustomEvent('grew', { bubbles: true }));
    });
  }

  add(index, item) {
    const host = el('div', 'item');
    this.node.insertBefore(host, this.status);
    let view;
    if (item.type === 'reasoning') view = new Thinking(host);
    else if (item.type === 'message') view = new Answer(host, (a) => this.scheduleDraw(a));
    else if (item.type === 'function_call_output') {
      const call = this.calls.get(item.call_id);
      if (call) {
        host.remove();
        call.setOutput(item.output);
        this.items.set(index, call);
        return call;
      }
      view = new ToolCall(host, { type: 'function_call', name: 'output' });
      view.setOutput(item.output);
    } else view = new ToolCall(host, item);
    if (item.call_id && item.type === 'function_call') this.calls.set(item.call_id, view);
    this.items.set(index, view);
    return view;
  }

  done(index, item) {
    const view = this.items.get(index) ?? this.add(index, item);
    if (item.type !== 'function_call_output') view.done(item);
  }

  // A Responses API stream event.
  on(event) {
    const view = this.items.get(event.output_index);
    switch (event.type) {
      case 'response.created':
        this.id = event.response.id;
        this.node.dataset.responseId = this.id;
        break;
      case 'response.output_item.added':
        this.add(event.output_index, event.item);
        break;
      case 'response.reasoning_text.delta':
      case 'response.output_text.delta':
      case 'response.function_call_arguments.delta':
      case 'response.code_interpreter_call_code.delta':
        view?.append(event.delta);
        break;
      case 'response.output_text.annotation.added':
        view?.annotate?.(event.annotation);
        break;
      case 'response.output_item.done':
        this.done(event.output_index, event.item);
        break;
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed':
        this.finish(event.response);
        break;
      case 'error':
        this.fail(event.message || (event.error && event.error.message) || 'The stream failed.');
        break;
      default:
        break;
    }
  }

  // A whole response object: the end of a stream, or a stored one being reopened.
  finish(response) {
    this.id = response.id;
    this.node.dataset.responseId = response.id;
    if (!this.items.size) (response.output || []).forEach((item, i) => this.done(i, item));
    for (const a of this.pending) a.draw();
    this.pending.clear();
    this.state = response.status;
    const usage = response.usage ? ` · ${response.usage.output_tokens} tokens` : '';
    const model = response.model ? `${response.model} · ` : '';
    if (response.status === 'failed') {
      this.fail((response.error && response.error.message) || 'The answer failed.');
    } else if (response.status === 'incomplete') {
      this.setStatus(`${model}cut short (${response.incomplete_details?.reason || 'incomplete'})${usage}`);
    } else {
      this.setStatus(`${model}${response.status}${usage}`);
    }
  }

  stopped() {
    for (const a of this.pending) a.draw();
    this.state = 'stopped';
    this.setStatus('Stopped');
  }

  fail(message) {
    this.state = 'failed';
    this.setStatus(message);
    this.status.classList.add('error');
  }

  setStatus(text) {
    this.status.textContent = text;
    this.node.dataset.state = this.state;
  }
}
