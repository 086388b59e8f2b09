import { ValidationError } from '../../../src/lib/errors';
import { buildQrCodeRequest } from '../../../src/providers/wechat-api/real';

describe('buildQrCodeRequest', () => {
  test('When no options are given, then a temporary string-scene code for 30 days is asked for', () => {
    expect(buildQrCodeRequest('poster-2024')).toEqual({ expire_seconds: 2592000, action_name: 'QR_STR_SCENE', action_info: { scene: { scene_str: 'poster-2024' } } });
  });

  test('When permanent, then QR_LIMIT_STR_SCENE without expiry', () => {
    expect(buildQrCodeRequest('desk', { permanent: true })).toEqual({ action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: 'desk' } } });
  });

  test.each([[''], ['x'.repeat(65)], ['含中文'], ['with space']])('When the scene is %p, then it is refused before any call', (scene) => {
    expect(() => buildQrCodeRequest(scene)).toThrow(ValidationError);
  });

  test.each([[59], [2592001], [1.5]])('When the expiry is %p seconds, then it is refused', (expireSeconds) => {
    expect(() => buildQrCodeRequest('s', { expireSeconds })).toThrow(ValidationError);
  });

  test('When the scene is exactly 64 characters, then it is accepted', () => {
    expect(buildQrCodeRequest('a'.repeat(64), { expireSeconds: 60 }).expire_seconds).toBe(60);
  });
});
