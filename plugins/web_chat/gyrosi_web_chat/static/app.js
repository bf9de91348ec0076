// The web chat: settings, the composer, the transcript and the list of past conversations.
// Conversations are kept in this browser (localStorage) as the ids of their stored responses
// and the user's messages; answers are fetched back from the server (GET /v1/responses/{id}),
// and a new turn continues with previous_response_id.

import { APIError, apiKey, getResponse, listModels, streamResponse } from './api.js';
import { el } from './dom.js';
import { ResponseView } from './view.js';

const $ = (id) => document.getElementById(id);
const CONVERSATIONS = 'gyrosi.conversations';
const SETTINGS = 'gyrosi.settings';

const ui = {
  transcript: $('transcript'), prompt: $('prompt'), send: $('send'), stop: $('stop'),
  model: $('model'), effort: $('effort'), list: $('conversations'), notice: $('notice'),
  keyBox: $('key-box'), key: $('api-key'), composer: $('composer'), app: $('app'),
};

let current = null;  // the open conversation: {id, title, updated, turns: [{input, response}]}
let controller = null;  // aborts the answer being streamed

// -- storage --------------------------------------------------------------------------------

function loadConversations() {
  try {
    const list = JSON.parse(localStorage.getItem(CONVERSATIONS) || '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function saveConversation(conv) {
  const list = loadConversations().filter((c) => c.id !== conv.id);
  list.unshift(conv);
  localStorage.setItem(CONVERSATIONS, JSON.stringify(list));
  drawList();
}

function forget(id) {
  localStorage.setItem(CONVERSATIONS, JSON.stringify(loadConversations().filter((c) => c.id !== id)));
  if (current && current.id === id) newChat();
  drawList();
}

function settings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS) || '{}');
  } catch {
    return {};
  }
}

function saveSettings() {
  const tools = [...document.querySelectorAll('#tools input:checked')].map((i) => i.value);
  localStorage.setItem(SETTINGS, JSON.stringify({
    model: ui.model.value, effort: ui.effort.value, tools,
  }));
}

// -- the page -------------------------------------------------------------------------------

function notice(text) {
  ui.notice.textContent = text || '';
  ui.notice.hidden = !text;
}

function drawList() {
  ui.list.replaceChildren(...loadConversations().map((conv) => {
    const li = el('li');
    if (current && conv.id === current.id) li.className = 'current';
    const open = el('button', 'open', conv.title || 'Untitled');
    open.type = 'button';
    open.title = new Date(conv.updated).toLocaleString();
    open.addEventListener('click', () => openConversation(conv.id));
    const del = el('button', 'forget', '×');
    del.type = 'button';
    del.setAttribute('aria-label', `Forget "${conv.title}"`);
    del.addEventListener('click', () => forget(conv.id));
    li.append(open, del);
    return li;
  }));
}

function userTurn(text) {
  const node = el('div', 'turn user');
  node.append(el('div', 'bubble', text));
  ui.transcript.append(node);
}

function nearBottom() {
  const t = ui.transcript;
  return t.scrollHeight - t.scrollTop - t.clientHeight < 80;
}

function scrollDown() {
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

function setBusy(busy) {
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  document.body.dataset.busy = busy ? '1' : '';
  if (!busy) ui.prompt.focus();
}

// A new chat (conv null) and a stored conversation open alike: the running answer stopped,
// the transcript and notice cleared, the list redrawn with `conv` marked.
function switchTo(conv) {
  stop();
  current = conv;
  ui.transcript.replaceChildren();
  notice('');
  drawList();
  ui.app.classList.remove('show-sidebar');
}

function newChat() {
  switchTo(null);
  ui.prompt.focus();
}

async function openConversation(id) {
  const conv = loadConversations().find((c) => c.id === id);
  if (!conv) return;
  switchTo(conv);
  for (const turn of conv.turns) {
    userTurn(turn.input);
    const view = new ResponseView(ui.transcript);
    try {
      view.finish(await getResponse(turn.response));
    } catch (err) {
      view.fail(err.status === 404 ? 'This answer is no longer stored on the server.' : err.message);
      if (err.status === 401) askForKey(err.message);
    }
  }
  scrollDown();
  ui.prompt.focus();
}

function askForKey(message) {
  notice(message);
  ui.keyBox.open = true;
  ui.key.focus();
}

// -- a turn ---------------------------------------------------------------------------------

async function send() {
  const text = ui.prompt.value;
  if (!text.trim() || controller) return;
  ui.prompt.value = '';
  notice('');
  const opened = current;  // the user may open another conversation while this one streams
  const conv = current ?? {
    id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    title: text.trim().slice(0, 60), updated: Date.now(), turns: [],
  };
  userTurn(text);
  const view = new ResponseView(ui.transcript);
  scrollDown();
  const body = { input: text, store: true, reasoning: { effort: ui.effort.value } };
  if (ui.model.value) body.model = ui.model.value;
  const tools = [...document.querySelectorAll('#tools input:checked')].map((i) => ({ type: i.value }));
  if (tools.length) body.tools = tools;
  const last = conv.turns[conv.turns.length - 1];
  if (last) body.previous_response_id = last.response;
  controller = new AbortController();
  setBusy(true);
  try {
    await streamResponse(body, (event) => {
      const follow = nearBottom();
      view.on(event);
      if (follow) scrollDown();
    }, controller.signal);
    if (view.state === 'streaming') view.fail('The stream ended before the answer did.');
  } catch (err) {
    if (err.name === 'AbortError') view.stopped();
    else {
      view.fail(err.message);
      if (err instanceof APIError && err.status === 401) askForKey(err.message);
    }
  } finally {
    controller = null;
    setBusy(false);
  }
  if (view.id && (view.state === 'completed' || view.state === 'incomplete')) {
    conv.turns.push({ input: text, response: view.id });
    conv.updated = Date.now();
    if (current === opened) current = conv;
    saveConversation(conv);
  }
}

function stop() {
  if (controller) controller.abort();
}

// -- start ----------------------------------------------------------------------------------

async function loadModels() {
  let models;
  try {
    models = await listModels();
  } catch (err) {
    if (err instanceof APIError && err.status === 401) askForKey(err.message);
    else notice(`Cannot reach the server: ${err.message}`);
    return false;
  }
  const chosen = settings().model ?? ui.model.value;
  ui.model.replaceChildren(el('option', '', 'server default'));
  ui.model.firstChild.value = '';
  for (const m of models) {
    const option = el('option', '', m.id);
    option.value = m.id;
    if (m.description) option.title = m.description;
    ui.model.append(option);
  }
  if ([...ui.model.options].some((o) => o.value === chosen)) ui.model.value = chosen;
  notice('');
  ui.keyBox.open = false;
  document.body.dataset.models = String(models.length);
  performance.mark('gyrosi-models');
  return true;
}

function wire() {
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  ui.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape') {
      stop();
    }
  });
  ui.stop.addEventListener('click', stop);
  $('new-chat').addEventListener('click', newChat);
  $('toggle-sidebar').addEventListener('click', () => ui.app.classList.toggle('show-sidebar'));
  $('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    apiKey.set(ui.key.value.trim());
    if (await loadModels()) ui.prompt.focus();
  });
  for (const input of [ui.model, ui.effort, ...document.querySelectorAll('#tools input')]) {
    input.addEventListener('change', saveSettings);
  }
  ui.transcript.addEventListener('grew', () => { if (nearBottom()) scrollDown(); });
}

function restoreSettings() {
  const s = settings();
  if (s.effort) ui.effort.value = s.effort;
  for (const input of document.querySelectorAll('#tools input')) {
    input.checked = (s.tools || []).includes(input.value);
  }
  ui.key.value = apiKey.get();
}

wire();
restoreSettings();
drawList();
// The prompt takes input at once; sending waits for nothing but the request itself.
ui.prompt.disabled = false;
ui.send.disabled = false;
ui.prompt.focus();
document.body.dataset.ready = '1';
performance.mark('gyrosi-ready');  // bench/web.py: navigation start to a prompt that takes input
loadModels();
