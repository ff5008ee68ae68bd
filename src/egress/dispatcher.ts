/**
 * The HTTP client of the server's own calls for workflows: an undici `Agent` (keep-alive pools
 * per origin) whose connector resolves the host name itself, checks every address with the egress
 * policy and connects to the first allowed one. Every new connection goes through it, also to a
 * redirect's origin and to IP-literal hosts, so the address checked is the address connected to:
 * no second DNS answer (rebinding) between the check and the connect.
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { type EgressPolicy, checkEgress, createEgressPolicy, originOf } from './policy.ts';
import { egressAllowSetting, parseEgressAllow } from './ranges.ts';

/** Every address of a host was refused by the egress policy. */
export class EgressForbiddenError extends Error {
  readonly code = 'ERR_EGRESS_FORBIDDEN';
  constructor(
    readonly hostname: string,
    readonly port: number,
    /** Each resolved address with why it is refused. */
    readonly refused: readonly { address: string; reason: string }[],
  ) {
    const why = refused.map((r) => r.reason).join('; ');
    const what = isIP(hostname) !== 0 ? 'it' : 'the address or the host name';
    super(
      `egress to ${hostname} port ${port} is forbidden: ${why}; add ${what} to ${egressAllowSetting} to allow it`,
    );
    this.name = 'EgressForbiddenError';
  }
}

export type AddressLookup = (hostname: string) => Promise<string[]>;

/** Every address of a name, in the resolver's order. */
const systemLookup: AddressLookup = (hostname) =>
  new Promise((resolve, reject) => {
    lookup(hostname, { all: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses.map((a) => a.address)),
    );
  });

/** An undici connector that connects only to an address the policy allows. */
function createEgressConnector(
  policy: EgressPolicy,
  resolve: AddressLookup = systemLookup,
): buildConnector.connector {
  // TLS still verifies the certificate against the host name: undici takes `servername` from the
  // `host` option, which stays the URL's host.
  const connect = buildConnector({});
  return (opts, callback) => {
    const port = opts.port !== '' ? Number(opts.port) : opts.protocol === 'https:' ? 443 : 80;
    const hostname = opts.hostname;
    const addresses = isIP(hostname) !== 0 ? Promise.resolve([hostname]) : resolve(hostname);
    addresses.then(
      (list) => {
        const refused: { address: string; reason: string }[] = [];
        for (const address of list) {
          const decision = checkEgress(policy, { address, port, hostname });
          if (decision.allowed) return connect({ ...opts, hostname: address }, callback);
          refused.push({ address, reason: decision.reason });
        }
        callback(new EgressForbiddenError(hostname, port, refused), null);
      },
      (err: Error) => callback(err, null),
    );
  };
}

function createEgressAgent(policy: EgressPolicy, resolve?: AddressLookup): Agent {
  return new Agent({ connect: createEgressConnector(policy, resolve) });
}

/** The clients executors call through, one per policy. */
export interface EgressClients {
  /** `http` nodes (and every other call a workflow decides): `egressAllow` only. */
  workflow: Agent;
  /** `llm` nodes: also the configured providers' base URLs, which the operator chose. */
  llm: Agent;
  close(): Promise<void>;
}

export function createEgressClients(
  opts: { egressAllow: readonly string[]; llmBaseUrls: readonly string[] },
  resolve?: AddressLookup,
): EgressClients {
  const allow = parseEgressAllow(opts.egressAllow);
  const workflow = createEgressAgent(createEgressPolicy({ allow }), resolve);
  const llm = createEgressAgent(
    createEgressPolicy({ allow, trustedOrigins: opts.llmBaseUrls.flatMap(trustedOriginOf) }),
    resolve,
  );
  return {
    workflow,
    llm,
    close: async () => {
      await Promise.all([workflow.close(), llm.close()]);
    },
  };
}

/** A base URL that does not parse trusts nothing (calls to it fail in the llm executor). */
function trustedOriginOf(baseUrl: string) {
  try {
    return [originOf(baseUrl)];
  } catch {
    return [];
  }
}
