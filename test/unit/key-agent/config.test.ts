import { loadKeyAgentConfig } from '../../../src/key-agent/config';

describe('key agent settings', () => {
  it('When no PUBLIC_BASE_URL is given, then pages of the development site (localhost:3000) may use the agent', () => {
    const config = loadKeyAgentConfig({ KEY_AGENT_BACKENDS: 'soft' });
    expect(config.allowedOrigins).toEqual(['http://localhost:3000', 'http://127.0.0.1:3000']);
  });

  it('When PUBLIC_BASE_URL is given, then only that site may use the agent, not whatever runs on localhost:3000', () => {
    const config = loadKeyAgentConfig({ KEY_AGENT_BACKENDS: 'soft', PUBLIC_BASE_URL: 'https://ca.example.cn/' });
    expect(config.allowedOrigins).toEqual(['https://ca.example.cn']);
  });

  it('When KEY_AGENT_ALLOWED_ORIGINS is given, then exactly those origins may use the agent', () => {
    const config = loadKeyAgentConfig({ KEY_AGENT_BACKENDS: 'soft', PUBLIC_BASE_URL: 'https://ca.example.cn', KEY_AGENT_ALLOWED_ORIGINS: 'https://a.example.cn' });
    expect(config.allowedOrigins).toEqual(['https://a.example.cn']);
  });
});
