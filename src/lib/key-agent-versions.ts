/**
 * The key agent's protocol versions, shared by the agent (src/key-agent, a desktop program left out of the server
 * build) and the pages that talk to it: kept here so the server never imports the agent.
 * Bumped when a method or a behaviour pages rely on is added. 2: `key.remove`, SM2 encryption keys imported from
 * their envelope at `cert.install`, `features` in `agent.hello`. Pages compare it with the version they need and
 * tell the user to update an older agent.
 */
export const KEY_AGENT_PROTOCOL_VERSION = 2;
/** What the renewal page needs: an agent older than this cannot clean up after a pulled key. */
export const KEY_AGENT_MIN_PROTOCOL_FOR_RENEWAL = 2;
