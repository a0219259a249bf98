import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { isAddressAllowed } from './addresses.ts';

/**
 * The dispatcher for image downloads: it refuses to connect to an address the policy does not
 * allow (addresses.ts), whatever led there: a DNS answer (an allowed name pointing at
 * 127.0.0.1, or re-pointed after enqueue), an IP literal, or a redirect. Three checks, because
 * each misses something on its own:
 *
 * 1. an IP-literal host is judged before connecting (Node never calls `lookup` for those);
 * 2. DNS answers are filtered in `lookup`, so a refused address is never even dialled;
 * 3. after connecting, the socket's remoteAddress is judged: the authoritative check, whatever
 *    the resolver or Happy Eyeballs did. A refused socket is destroyed before any request.
 */

/** The error when an address is refused; permanent for the download (see open-url.ts). */
export const addressRefusedCode = 'ERR_IMAGE_ADDRESS_REFUSED';

function refused(): Error {
  return Object.assign(
    new Error('the image URL resolves to an address that is not allowed (private or local)'),
    { code: addressRefusedCode },
  );
}

/** A `lookup` that drops refused addresses from every answer, failing when none is left. */
function guardedLookup(allowPrivateNetworks: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const allowed = addresses.filter((entry) =>
        isAddressAllowed(entry.address, allowPrivateNetworks),
      );
      const first = allowed[0];
      if (!first) callback(refused(), '', 0);
      else if (options.all)
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

/** undici's connector with the three checks around it. */
export function guardedConnector(
  allowPrivateNetworks: boolean,
  connectTimeoutMs: number,
): buildConnector.connector {
  const connect = buildConnector({
    timeout: connectTimeoutMs,
    lookup: guardedLookup(allowPrivateNetworks),
  });
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0 && !isAddressAllowed(host, allowPrivateNetworks)) {
      callback(refused(), null);
      return;
    }
    connect(options, (error, socket) => {
      if (error) {
        callback(error, null);
        return;
      }
      const address = socket.remoteAddress;
      if (address === undefined || !isAddressAllowed(address, allowPrivateNetworks)) {
        socket.destroy();
        callback(refused(), null);
        return;
      }
      callback(null, socket);
    });
  };
}

const agents = new Map<string, Agent>();

/**
 * One pool per policy flavour, shared by every download (connections are reused only to the
 * same origin, and each was checked when it was made). Never closed: it lives as long as the
 * process, like undici's global dispatcher it replaces, and holds no connection while idle
 * beyond the keep-alive timeout.
 */
export function imageAgent(allowPrivateNetworks: boolean, connectTimeoutMs: number): Agent {
  const key = `${String(allowPrivateNetworks)}:${String(connectTimeoutMs)}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ connect: guardedConnector(allowPrivateNetworks, connectTimeoutMs) });
    agents.set(key, agent);
  }
  return agent;
}
