// A local HTTP server that answers from a script, one step per request, and records every request: what the
// SDK's retries, timeouts and error handling do is observed from the server side, as the API would see it.
import { createServer } from 'node:http';

/**
 * A step: `{status, body, headers, delay}` (body: a Buffer is sent as bytes, an object as JSON, a string as
 * text/plain), or a
 * function `(request) => step`. The last step repeats once the script is used up.
 */
export async function scriptedServer(steps) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const request = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
        at: performance.now(),
      };
      requests.push(request);
      const index = Math.min(requests.length - 1, steps.length - 1);
      const step = typeof steps[index] === 'function' ? steps[index](request) : steps[index];
      const send = () => {
        if (res.destroyed) return;
        const headers = { ...(step.headers ?? {}) };
        let payload = '';
        if (Buffer.isBuffer(step.body)) {
          headers['content-type'] ??= 'application/octet-stream';
          payload = step.body;
        } else if (typeof step.body === 'string') {
          headers['content-type'] ??= 'text/plain; charset=utf-8';
          payload = step.body;
        } else if (step.body !== undefined) {
          headers['content-type'] = 'application/json';
          payload = JSON.stringify(step.body);
        }
        res.writeHead(step.status ?? 200, headers);
        res.end(payload);
      };
      if (step.delay) setTimeout(send, step.delay);
      else send();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}
