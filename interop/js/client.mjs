// Drives an AgentWeave agent with the official A2A JS SDK client over mTLS.
//
//   node client.mjs --url https://127.0.0.1:PORT --cert svid.pem --key key.pem \
//     --bundle bundle.pem --server-id spiffe://example.org/agent/search/dev \
//     [--binding JSONRPC|HTTP+JSON] [--version 1.0|0.3]
//
// It prints one JSON line per step on stdout ({"step", "ok", ...details}),
// traces every HTTP exchange on stderr, and exits 1 if any step failed.
// --version 0.3 uses the SDK's opt-in v0.3 compatibility transports, to
// exercise the agent's 0.3 bindings as an old peer would.
import { randomUUID, X509Certificate } from 'node:crypto';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { Agent, Response, fetch } from 'undici';
import { Role, TaskState, taskStateToJSON } from '@a2a-js/sdk';
import {
  ClientFactory,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  RestTransportFactory,
} from '@a2a-js/sdk/client';
import { expectSPIFFEID, readSVID, spiffeIDOf } from './spiffe.mjs';

// AgentWeave's capability-routing extension: message metadata names the skill.
const CAPABILITY = 'https://github.com/agentweave/agentweave-go/a2a/ext/capability/v1';
const CALL_TIMEOUT_MS = 15_000;

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    bundle: { type: 'string' },
    'server-id': { type: 'string' },
    binding: { type: 'string', default: 'JSONRPC' },
    version: { type: 'string', default: '1.0' },
  },
});
for (const name of ['url', 'cert', 'key', 'bundle', 'server-id']) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const svid = readSVID(args);
const myID = spiffeIDOf(new X509Certificate(svid.cert).subjectAltName);
// undici's own fetch with its own Agent: the SDK takes any fetch as fetchImpl.
const dispatcher = new Agent({ connect: { ...svid, checkServerIdentity: expectSPIFFEID(args['server-id']) } });
const fetchImpl = traced((input, init) => fetch(input, { ...init, dispatcher }));

const legacyCompat = { enabled: args.version === '0.3' };
const resolver = new DefaultAgentCardResolver({ fetchImpl, legacyCompat });
const factory = new ClientFactory({
  transports: [new JsonRpcTransportFactory({ fetchImpl, legacyCompat }), new RestTransportFactory({ fetchImpl, legacyCompat })],
  preferredTransports: [args.binding],
  cardResolver: resolver,
});
const opts = () => ({ signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });

let failed = false;
const state = {}; // results later steps build on

await step('card', async () => {
  state.card = await resolver.resolve(args.url);
  const interfaces = state.card.supportedInterfaces.map((i) => `${i.protocolBinding}/${i.protocolVersion}`);
  check(interfaces.includes(`${args.binding}/${args.version}`), `card has no ${args.binding}/${args.version} interface`);
  check(state.card.capabilities?.streaming, 'card does not declare streaming');
  return { name: state.card.name, interfaces };
});

await step('client', async () => {
  // The factory prefers 1.0 interfaces; keeping only the wanted version is
  // how a client that speaks just that version sees the card.
  const card = { ...need(state.card, 'card'), supportedInterfaces: state.card.supportedInterfaces.filter((i) => i.protocolVersion === args.version) };
  state.client = await factory.createFromAgentCard(card);
  const { protocolName, protocolVersion } = state.client.transport;
  check(protocolName === args.binding && protocolVersion === args.version, `got transport ${protocolName}/${protocolVersion}`);
  return { binding: protocolName, protocolVersion };
});

await step('send-echo', async () => {
  const task = asTask(await need(state.client, 'client').sendMessage({ message: call('echo', { q: 'from-js' }) }, opts()));
  check(task.status?.state === TaskState.TASK_STATE_COMPLETED, `state ${stateName(task)}, want completed`);
  const data = task.artifacts[0]?.parts[0]?.content;
  check(data?.$case === 'data', `first artifact part is ${JSON.stringify(data)}, want a data part`);
  check(isDeepStrictEqual(data.value.echo, { q: 'from-js' }), `echo = ${JSON.stringify(data.value.echo)}`);
  // The agent saw our SVID: it reports the caller's SPIFFE ID.
  check(data.value.caller === myID, `caller = ${data.value.caller}, want ${myID}`);
  return { taskId: task.id, state: stateName(task), result: data.value };
});

await step('stream-slow', async () => {
  const events = [];
  for await (const ev of need(state.client, 'client').sendMessageStream({ message: call('slow', {}) }, opts())) {
    const { $case, value } = ev.payload ?? {};
    if ($case === 'task') state.streamTaskId = value.id;
    events.push(describe($case, value));
  }
  check(events[0]?.startsWith('task:'), 'the stream does not start with the task');
  check(events.includes('artifact:out'), 'no artifact "out"');
  check(events.at(-1) === 'status:TASK_STATE_COMPLETED', 'the stream does not end with completed');
  return { taskId: state.streamTaskId, events };
});

await step('get-task', async () => {
  const task = await need(state.client, 'client').getTask({ id: need(state.streamTaskId, 'stream-slow') }, opts());
  check(task.id === state.streamTaskId, `got task ${task.id}`);
  check(task.status?.state === TaskState.TASK_STATE_COMPLETED, `state ${stateName(task)}, want completed`);
  check(task.artifacts.some((a) => a.name === 'out'), 'no artifact "out"');
  return { taskId: task.id, state: stateName(task), artifacts: task.artifacts.map((a) => a.name) };
});

await step('cancel', async () => {
  const client = need(state.client, 'client');
  const started = asTask(await client.sendMessage({ message: call('slow', {}), configuration: { returnImmediately: true } }, opts()));
  const before = stateName(started);
  check(['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING'].includes(before), `returned in state ${before}, want submitted or working`);
  const canceled = await client.cancelTask({ id: started.id }, opts());
  check(canceled.status?.state === TaskState.TASK_STATE_CANCELED, `CancelTask state ${stateName(canceled)}, want canceled`);
  const after = await client.getTask({ id: started.id }, opts());
  check(after.status?.state === TaskState.TASK_STATE_CANCELED, `GetTask after cancel: state ${stateName(after)}`);
  return { taskId: started.id, before, after: stateName(after) };
});

await dispatcher.destroy();
process.exitCode = failed ? 1 : 0;

// step runs fn and prints its outcome; a failure does not stop later steps.
async function step(name, fn) {
  try {
    console.log(JSON.stringify({ step: name, ok: true, ...(await fn()) }));
  } catch (err) {
    failed = true;
    console.log(JSON.stringify({ step: name, ok: false, error: errorText(err) }));
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// need returns a result of an earlier step, or fails this one naming it.
function need(value, stepName) {
  if (value === undefined) throw new Error(`skipped: step ${stepName} failed`);
  return value;
}

function call(capability, data) {
  return {
    messageId: randomUUID(),
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'data', value: data } }],
    metadata: { [CAPABILITY]: capability },
  };
}

function asTask(result) {
  check(result && 'status' in result, `SendMessage returned ${JSON.stringify(result)}, want a task`);
  return result;
}

function stateName(task) {
  return taskStateToJSON(task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED);
}

function describe($case, value) {
  switch ($case) {
    case 'task':
      return `task:${stateName(value)}`;
    case 'statusUpdate':
      return `status:${stateName(value)}`;
    case 'artifactUpdate':
      return `artifact:${value.artifact?.name}`;
    default:
      return String($case);
  }
}

function errorText(err) {
  let text = `${err?.name}: ${err?.message}`;
  for (let c = err?.cause; c; c = c.cause) text += ` (cause: ${c.name}: ${c.message})`;
  return text;
}

// traced logs each request and its response body on stderr, so that a
// failing step comes with the exact wire exchange.
function traced(inner) {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers);
    const label = `${init.method ?? 'GET'} ${input} A2A-Version=${headers.get('A2A-Version')}`;
    console.error(`> ${label} ${init.body ?? ''}`);
    const res = await inner(input, init);
    if (!res.body) {
      console.error(`< ${label}: ${res.status}`);
      return res;
    }
    const [mine, theirs] = res.body.tee();
    new Response(mine).text().then(
      (body) => console.error(`< ${label}: ${res.status} ${res.headers.get('content-type')}\n${body}`),
      (err) => console.error(`< ${label}: ${res.status} (body unreadable: ${errorText(err)})`),
    );
    return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
