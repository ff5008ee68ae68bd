/**
 * The LLM gateway as an HTTP base URL inside a sandbox (docs/runtimes.md): a small Node program,
 * run with the host's own `node` in front of the command (docker: once per container, entered
 * into the container's network namespace from the host), listens on 127.0.0.1 of the command's
 * network namespace (a free port), forwards each connection to the gateway socket, sets
 * `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL` and `YARD_URL` (unless the node's env set them), then
 * runs the command and ends as it ends (its exit code, or its signal). Signals it receives pass
 * to the command. Only the socket is reached: never the server's API port or the host's network.
 */

/** Where the gateway socket is mounted inside a bubblewrap sandbox. */
export const sandboxGatewaySocket = '/run/switchyard/gateway.sock';

/** `node -e <script> <socket> <command…>` (process.argv: node, socket, command…). */
const forwarderScript = `
const net = require('node:net');
const cp = require('node:child_process');
const [socket, ...command] = process.argv.slice(1);
const server = net.createServer((client) => {
  const upstream = net.connect(socket);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close);
  upstream.on('error', close);
  client.pipe(upstream).pipe(client);
});
server.on('error', (err) => {
  process.stderr.write('switchyard: the gateway forwarder could not listen: ' + err.message + '\\n');
  process.exit(125);
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  if (command.length === 0) {
    // Serve-only (docker): say the port, serve until the server that started it goes away.
    process.stdout.write(port + '\\n');
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
    return;
  }
  const base = 'http://127.0.0.1:' + port;
  const env = { ...process.env };
  const set = (k, v) => { if (env[k] === undefined) env[k] = v; };
  set('OPENAI_BASE_URL', base + '/api/v1/llm/v1');
  set('ANTHROPIC_BASE_URL', base + '/api/v1/llm');
  set('YARD_URL', base);
  const child = cp.spawn(command[0], command.slice(1), { stdio: 'inherit', env });
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
  child.on('error', (err) => {
    process.stderr.write('switchyard: ' + err.message + '\\n');
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    server.close();
    if (signal === null) process.exit(code ?? 0);
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
});
`;

/**
 * The argv prefix that runs a command behind the forwarder to `socket` (as the command sees it).
 * Without a command after it, the forwarder only serves: it prints its port on stdout and ends
 * when its stdin closes.
 */
export function forwarderArgv(node: string, socket: string): string[] {
  return [node, '-e', forwarderScript, socket];
}

/** The variables a command behind a forwarder at `port` gets (those it set itself stay). */
export function gatewayBaseUrls(port: number): Record<string, string> {
  const base = `http://127.0.0.1:${port}`;
  return {
    OPENAI_BASE_URL: `${base}/api/v1/llm/v1`,
    ANTHROPIC_BASE_URL: `${base}/api/v1/llm`,
    YARD_URL: base,
  };
}

/**
 * A command's environment with the gateway's variables; what `env` (the node's variables) sets
 * already stays. The SDKs' key variables hold the token only where a base URL leads to the
 * gateway (`http`), so no SDK sends it to a provider directly.
 */
export function withGatewayEnv(
  env: Record<string, string>,
  access: { token: string; socket: string },
  http: { baseUrls: Record<string, string> } | undefined,
): Record<string, string> {
  return {
    SWITCHYARD_TOKEN: access.token,
    YARD_TOKEN: access.token,
    SWITCHYARD_GATEWAY_SOCKET: access.socket,
    ...(http !== undefined && {
      OPENAI_API_KEY: access.token,
      ANTHROPIC_API_KEY: access.token,
      ...http.baseUrls,
    }),
    ...env,
  };
}
