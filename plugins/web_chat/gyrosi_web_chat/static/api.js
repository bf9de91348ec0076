// The server's public API, as any client would call it: Bearer key, OpenAI error objects, and
// the Responses API's server-sent events read from a fetch body (EventSource cannot POST).

const KEY = 'gyrosi.apiKey';

export const apiKey = {
  get: () => localStorage.getItem(KEY) || '',
  set: (value) => (value ? localStorage.setItem(KEY, value) : localStorage.removeItem(KEY)),
};

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = apiKey.get();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function request(path, { method = 'GET', body, signal } = {}) {
  const reply = await fetch(path, {
    method, signal, headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!reply.ok) {
    let message = `The server answered ${reply.status} ${reply.statusText}.`;
    try {
      const error = (await reply.json()).error;
      if (error && error.message) message = error.message;
    } catch { /* not an OpenAI error object: keep the status line */ }
    throw new APIError(reply.status, message);
  }
  return reply;
}

export async function listModels() {
  return (await (await request('/v1/models')).json()).data;
}

export async function getResponse(id) {
  return (await request(`/v1/responses/${encodeURIComponent(id)}`)).json();
}

// POST /v1/responses with stream: true; `onEvent` gets each event object in order. Aborting
// `signal` closes the connection, which is how the server learns to stop and free the slot.
export async function streamResponse(body, onEvent, signal) {
  const reply = await request('/v1/responses', { method: 'POST', body: { ...body, stream: true }, signal });
  const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (data && data !== '[DONE]') onEvent(JSON.parse(data));
    }
  }
}
