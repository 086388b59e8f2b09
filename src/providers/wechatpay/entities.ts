import { EntitySchema } from 'typeorm';

/**
 * A WeChat Pay platform certificate this system downloaded, decrypted with the APIv3 key (tag checked) and saw
 * sign the very answer it came in: shared by every instance, and kept across restarts so a start while WeChat Pay
 * is unreachable still verifies. Certificates are public; what matters is that nothing unverified is written here.
 */
export interface WechatPayPlatformCertificate {
  /** Upper-case hex, as in Wechatpay-Serial. */
  serialNo: string;
  /** The merchant it was downloaded for: a changed WECHATPAY_MCHID does not inherit another merchant's keys. */
  mchId: string;
  pem: string;
  notBefore: Date;
  notAfter: Date;
  downloadedAt: Date;
}

export const WechatPayPlatformCertificateEntity = new EntitySchema<WechatPayPlatformCertificate>({
  name: 'WechatPayPlatformCertificate',
  tableName: 'wechatpay_platform_certificates',
  columns: {
    serialNo: { name: 'serial_no', type: String, length: 64, primary: true },
    mchId: { name: 'mch_id', type: String, length: 16, primary: true },
    pem: { type: 'text' },
    notBefore: { name: 'not_before', type: Date },
    notAfter: { name: 'not_after', type: Date },
    downloadedAt: { name: 'downloaded_at', type: Date },
  },
});
