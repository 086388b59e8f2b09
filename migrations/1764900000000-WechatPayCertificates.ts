import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** WeChat Pay platform certificates, downloaded (decrypted and verified) and kept while valid; shared by every instance. */
export class WechatPayCertificates1764900000000 implements MigrationInterface {
  name = 'WechatPayCertificates1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'wechatpay_platform_certificates',
      columns: [
        { ...col.string('serial_no', 64), isPrimary: true }, { ...col.string('mch_id', 16), isPrimary: true }, col.text('pem'),
        col.time('not_before'), col.time('not_after'), col.time('downloaded_at'),
      ],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('wechatpay_platform_certificates');
  }
}
