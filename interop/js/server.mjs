// An A2A agent built with the official JS SDK server, over mutual TLS.
//
//   node server.mjs --cert svid.pem --key key.pem --bundle bundle.pem
//
// It listens on 127.0.0.1 on an ephemeral port and prints "READY <port>"
// once it accepts connections. Clients must present a certificate chaining
// to the bundle; the caller's SPIFFE ID becomes the SDK's User, and every
// task completes with a text artifact "hello from js" whose metadata names
// that caller. JSON-RPC is served at /a2a/jsonrpc, HTTP+JSON at /a2a/rest
// (both A2A 1.0). SIGTERM or SIGINT stop it.
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { parseArgs } from 'node:util';
import express from 'express';
import { AGENT_CARD_PATH, TaskState } from '@a2a-js/sdk';
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, restHandler } from '@a2a-js/sdk/server/express';
import { readSVID, spiffeIDOf } from './spiffe.mjs';

const { values: args } = parseArgs({
  options: { cert: { type: 'string' }, key: { type: 'string' }, bundle: { type: 'string' } },
});
for (const name of ['cert', 'key', 'bundle']) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

// The card in A2A 1.0 JSON form: the card handler serves it as is.
// supportedInterfaces is filled in once the port is known.
const card = {
  name: 'js-hello',
  description: 'A2A JS SDK agent for AgentWeave interop tests',
  version: '1.0.0',
  supportedInterfaces: [],
  capabilities: { streaming: true, pushNotifications: false },
  securitySchemes: { mtls: { mtlsSecurityScheme: { description: 'Mutual TLS with SPIFFE X509-SVIDs' } } },
  securityRequirements: [{ schemes: { mtls: { list: [] } } }],
  defaultInputModes: ['text/plain', 'application/json'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'hello', name: 'hello', description: 'says hello', tags: ['interop'] }],
};

// SpiffeUser is the caller as the TLS layer verified it.
class SpiffeUser {
  constructor(id) {
    this.id = id;
  }
  get isAuthenticated() {
    return true;
  }
  get userName() {
    return this.id;
  }
}
const userBuilder = async (req) => new SpiffeUser(spiffeIDOf(req.socket.getPeerCertificate().subjectaltname));

const now = () => new Date().toISOString();
const status = (state) => ({ state, message: undefined, timestamp: now() });

const executor = {
  async execute(ctx, bus) {
    const { taskId, contextId } = ctx;
    // The SDK requires a task (or message) as the first event.
    bus.publish(AgentEvent.task({ id: taskId, contextId, status: status(TaskState.TASK_STATE_SUBMITTED), artifacts: [], history: [ctx.userMessage], metadata: undefined }));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined }));
    bus.publish(AgentEvent.artifactUpdate({
      taskId,
      contextId,
      artifact: {
        artifactId: randomUUID(),
        name: 'greeting',
        description: '',
        parts: [{ content: { $case: 'text', value: 'hello from js' }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
        metadata: { caller: ctx.context.user?.userName ?? '' },
        extensions: [],
      },
      append: false,
      lastChunk: true,
      metadata: undefined,
    }));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_COMPLETED), metadata: undefined }));
    bus.finished();
  },
  async cancelTask(taskId, bus) {
    // Tasks complete synchronously in execute; nothing is left to stop.
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: status(TaskState.TASK_STATE_CANCELED), metadata: undefined }));
    bus.finished();
  },
};

const requestHandler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
const app = express();
app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: requestHandler }));
app.use('/a2a/jsonrpc', jsonRpcHandler({ requestHandler, userBuilder }));
app.use('/a2a/rest', restHandler({ requestHandler, userBuilder }));

const { cert, key, ca } = readSVID(args);
// requestCert + rejectUnauthorized: no handshake completes without a client
// certificate that chains to the bundle.
const server = https.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true }, app);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const base = `https://127.0.0.1:${port}`;
  card.supportedInterfaces.push(
    { url: `${base}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
    { url: `${base}/a2a/rest`, protocolBinding: 'HTTP+JSON', protocolVersion: '1.0' },
  );
  console.log(`READY ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
